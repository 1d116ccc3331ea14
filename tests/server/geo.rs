//! Geo commands compared with Redis in RESP2 and RESP3: stored scores,
//! printed coordinates and distances, search order, the poles, the
//! antimeridian, errors.

use flashkv::Store;

use crate::backends;
use crate::common::*;

fn geo_matches_redis<S: Store>() {
    differential_resp2_and_3::<S>(
        "geo_matches_redis",
        "
        GEOADD Sicily 13.361389 38.115556 Palermo 15.087269 37.502669 Catania
        ZRANGE Sicily 0 -1 WITHSCORES
        GEOADD Sicily NX 13.361389 38.115556 Palermo 12.5 37.8 Marsala
        GEOADD Sicily XX CH 13.4 38.1 Palermo 1 1 Nowhere
        GEOADD Sicily CH 13.361389 38.115556 Palermo
        GEOADD Sicily NX XX 1 1 x
        GEOADD Sicily 1 1
        GEOADD Sicily 200 10 bad
        GEOADD Sicily 10 86 bad
        GEOADD Sicily x 10 bad
        GEOADD Sicily -180 -85.05112878 sw 180 85.05112878 ne
        GEOPOS Sicily Palermo Catania nope sw ne
        GEOPOS nokey a
        GEOPOS Sicily
        GEOHASH Sicily Palermo Catania nope sw ne
        GEOHASH nokey a
        GEODIST Sicily Palermo Catania
        GEODIST Sicily Palermo Catania km
        GEODIST Sicily Palermo Catania MI
        GEODIST Sicily Palermo Catania ft
        GEODIST Sicily Palermo Catania parsecs
        GEODIST Sicily Palermo nope
        GEODIST nokey a b
        GEODIST Sicily Palermo Catania km extra
        GEODIST Sicily sw ne
        GEORADIUS Sicily 15 37 200 km
        GEORADIUS Sicily 15 37 200 km WITHDIST WITHCOORD WITHHASH ASC
        GEORADIUS Sicily 15 37 200 km DESC COUNT 1
        GEORADIUS Sicily 15 37 200 km COUNT 1 ANY
        GEORADIUS Sicily 15 37 200 km ANY
        GEORADIUS Sicily 15 37 200 km COUNT 0
        GEORADIUS Sicily 15 37 -1 km
        GEORADIUS Sicily 15 37 x km
        GEORADIUS Sicily 15 37 200 yards
        GEORADIUS Sicily 15 37 200 km STORE dst
        ZRANGE dst 0 -1 WITHSCORES
        GEORADIUS Sicily 15 37 200 km STOREDIST dst2
        ZRANGE dst2 0 -1 WITHSCORES
        GEORADIUS Sicily 15 37 200 km STORE dst WITHDIST
        GEORADIUS Sicily 15 37 1 m STORE dst
        EXISTS dst
        GEORADIUS_RO Sicily 15 37 200 km STORE dst
        GEORADIUS_RO Sicily 15 37 200 km WITHDIST
        GEORADIUSBYMEMBER Sicily Palermo 300 km WITHDIST
        GEORADIUSBYMEMBER Sicily nope 300 km
        GEORADIUSBYMEMBER nokey nope 300 km
        GEORADIUSBYMEMBER_RO Sicily Catania 100 km ASC WITHCOORD
        GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 200 km ASC
        GEOSEARCH Sicily FROMMEMBER Palermo BYBOX 400 400 km ASC WITHCOORD WITHDIST WITHHASH
        GEOSEARCH Sicily FROMMEMBER Palermo BYBOX 400 400 km DESC COUNT 2
        GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX 100 100 km
        GEOSEARCH Sicily FROMLONLAT 15 37
        GEOSEARCH Sicily BYRADIUS 10 km
        geosearch Sicily BYRADIUS 10 km
        GEOSEARCH Sicily FROMMEMBER Palermo FROMLONLAT 1 1 BYRADIUS 1 km
        GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 1 km BYBOX 1 1 km
        GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX -1 1 km
        GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX x 1 km
        GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX 1 y km
        GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 200 km STORE x
        GEOSEARCH Sicily FROMMEMBER nope BYRADIUS 200 km
        GEOSEARCH nokey FROMMEMBER nope BYRADIUS 200 km
        GEOSEARCH nokey FROMLONLAT 15 37 BYRADIUS 200 km
        GEOSEARCHSTORE out Sicily FROMLONLAT 15 37 BYRADIUS 200 km
        ZRANGE out 0 -1 WITHSCORES
        GEOSEARCHSTORE out Sicily FROMLONLAT 15 37 BYRADIUS 200 km STOREDIST
        ZRANGE out 0 -1 WITHSCORES
        GEOSEARCHSTORE out Sicily FROMLONLAT 15 37 BYRADIUS 200 km WITHDIST
        GEOSEARCHSTORE out nokey FROMLONLAT 15 37 BYRADIUS 200 km
        EXISTS out
        SET str x
        GEOADD str 1 1 a
        GEOPOS str a
        GEOSEARCH str FROMLONLAT 1 1 BYRADIUS 1 km
        GEORADIUS str 1 1 1 km COUNT x
        GEOADD poles 0 85 n1 90 85 n2 180 85 n3 -180 85 n4 0 -85 s1 179.9 0 e1 -179.9 0 w1
        GEOPOS poles n1 n2 n3 n4 s1 e1 w1
        GEOHASH poles n1 n2 n3 n4 s1 e1 w1
        GEODIST poles n1 n2 km
        GEODIST poles e1 w1 km
        GEOSEARCH poles FROMLONLAT 179.95 0 BYRADIUS 20 km ASC WITHDIST
        GEOSEARCH poles FROMLONLAT 0 84.9 BYRADIUS 5000 km ASC WITHDIST
        GEOSEARCH poles FROMLONLAT 0 84.9 BYBOX 20000 2000 km DESC WITHDIST
        GEORADIUS poles 0 0 30000 km ASC
        GEORADIUS poles 0 0 0 km
        ",
    );
}

/// Many points: search results, their unsorted scan order and counted
/// windows agree with Redis at several radii and boxes.
/// 200 points spread over 20 by 10 degrees, as a script.
fn points() -> String {
    let mut script = String::new();
    for i in 0..200 {
        let lon = -10.0 + (i * 37 % 200) as f64 * 0.1;
        let lat = 40.0 + (i * 53 % 200) as f64 * 0.05;
        script.push_str(&format!("GEOADD pts {lon:.3} {lat:.3} p{i}\n"));
    }
    script
}

fn geo_searches_over_many_points_match_redis<S: Store>() {
    let mut script = points();
    for (r, unit) in [(5, "km"), (50, "km"), (300, "km"), (2000, "mi")] {
        script.push_str(&format!(
            "GEOSEARCH pts FROMLONLAT -1 45 BYRADIUS {r} {unit}\n"
        ));
        script.push_str(&format!(
            "GEOSEARCH pts FROMLONLAT -1 45 BYRADIUS {r} {unit} ASC WITHDIST COUNT 7\n"
        ));
        script.push_str(&format!(
            "GEOSEARCH pts FROMMEMBER p17 BYBOX {r} {r} {unit} DESC WITHCOORD\n"
        ));
        script.push_str(&format!("GEORADIUS pts 0 44 {r} {unit} WITHHASH\n"));
    }
    differential::<S>("geo_searches_over_many_points_match_redis", &script);
}

/// Searches from many centers and radii over the same points: the
/// geohash cells searched depend on where the center falls in its cell
/// (Redis's `geohashGetAreasByShape` takes a bigger step when a
/// neighbour cell does not reach the search box's edge), so one center
/// exercises only some of the cases.
fn geo_searches_from_many_centers_match_redis<S: Store>() {
    let mut script = points();
    for c in 0..40 {
        let lon = -9.5 + (c * 7 % 40) as f64 * 0.47;
        let lat = 40.2 + (c * 11 % 40) as f64 * 0.24;
        for r in [15, 40, 90, 160] {
            script.push_str(&format!(
                "GEOSEARCH pts FROMLONLAT {lon:.3} {lat:.3} BYRADIUS {r} km ASC\n"
            ));
        }
        script.push_str(&format!(
            "GEOSEARCH pts FROMLONLAT {lon:.3} {lat:.3} BYBOX 120 60 km ASC\n"
        ));
    }
    differential::<S>("geo_searches_from_many_centers_match_redis", &script);
}

backends!(
    geo_matches_redis,
    geo_searches_over_many_points_match_redis,
    geo_searches_from_many_centers_match_redis
);
