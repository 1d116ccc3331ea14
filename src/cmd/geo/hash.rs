//! Redis's geohash arithmetic (`geohash.c`, `geohash_helper.c`): the
//! 52-bit interleaved encoding stored as a sorted-set score, its decoding
//! to the centre of the cell, the haversine distances, and the nine cells
//! a radius or box search scans. Every formula keeps Redis's order of
//! floating-point operations, so scores, coordinates and distances come
//! out bit for bit as Redis's.

/// The finest step: 26 bits of longitude and 26 of latitude.
pub const STEP_MAX: u8 = 26;
/// Latitude limits of the Mercator projection Redis indexes.
pub const LAT_MIN: f64 = -85.051_128_78;
/// See [`LAT_MIN`].
pub const LAT_MAX: f64 = 85.051_128_78;
/// Longitude limits.
pub const LONG_MIN: f64 = -180.0;
/// See [`LONG_MIN`].
pub const LONG_MAX: f64 = 180.0;
const EARTH_RADIUS: f64 = 6_372_797.560_856;
const MERCATOR_MAX: f64 = 20_037_726.37;
const D_R: f64 = std::f64::consts::PI / 180.0;

/// A cell: interleaved bits (latitude in even bits, longitude in odd
/// ones) at `step` bits per axis. Step 0 marks an excluded neighbour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bits {
    /// The interleaved bits.
    pub bits: u64,
    /// Bits per axis.
    pub step: u8,
}

/// A cell's bounds.
#[derive(Clone, Copy, Debug)]
pub struct Area {
    /// Longitude min, max.
    pub lon: (f64, f64),
    /// Latitude min, max.
    pub lat: (f64, f64),
}

fn deg_rad(a: f64) -> f64 {
    a * D_R
}

fn rad_deg(a: f64) -> f64 {
    a / D_R
}

fn spread(v: u32) -> u64 {
    let mut x = u64::from(v);
    x = (x | (x << 16)) & 0x0000_FFFF_0000_FFFF;
    x = (x | (x << 8)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x << 2)) & 0x3333_3333_3333_3333;
    (x | (x << 1)) & 0x5555_5555_5555_5555
}

fn squash(mut x: u64) -> u32 {
    x &= 0x5555_5555_5555_5555;
    x = (x | (x >> 1)) & 0x3333_3333_3333_3333;
    x = (x | (x >> 2)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x >> 4)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x >> 8)) & 0x0000_FFFF_0000_FFFF;
    ((x | (x >> 16)) & 0x0000_0000_FFFF_FFFF) as u32
}

/// `geohashEncode` over the given ranges; `None` outside them (or outside
/// Redis's indexable limits).
pub fn encode(
    lon_range: (f64, f64),
    lat_range: (f64, f64),
    lon: f64,
    lat: f64,
    step: u8,
) -> Option<Bits> {
    if !(LONG_MIN..=LONG_MAX).contains(&lon) || !(LAT_MIN..=LAT_MAX).contains(&lat) {
        return None;
    }
    if lat < lat_range.0 || lat > lat_range.1 || lon < lon_range.0 || lon > lon_range.1 {
        return None;
    }
    let scale = (1u64 << step) as f64;
    let lat_offset = (lat - lat_range.0) / (lat_range.1 - lat_range.0) * scale;
    let lon_offset = (lon - lon_range.0) / (lon_range.1 - lon_range.0) * scale;
    // C converts the doubles to uint32_t by truncation.
    let bits = spread(lat_offset as u32) | (spread(lon_offset as u32) << 1);
    Some(Bits { bits, step })
}

/// The WGS84 ranges Redis indexes.
pub const RANGES: ((f64, f64), (f64, f64)) = ((LONG_MIN, LONG_MAX), (LAT_MIN, LAT_MAX));

/// The score GEOADD stores for a position (already validated).
pub fn score(lon: f64, lat: f64) -> f64 {
    encode(RANGES.0, RANGES.1, lon, lat, STEP_MAX).map_or(0.0, |b| b.bits as f64)
}

/// `geohashDecode`.
pub fn decode(lon_range: (f64, f64), lat_range: (f64, f64), h: Bits) -> Area {
    let lat_scale = lat_range.1 - lat_range.0;
    let lon_scale = lon_range.1 - lon_range.0;
    let ilat = squash(h.bits);
    let ilon = squash(h.bits >> 1);
    let div = (1u64 << h.step) as f64;
    Area {
        lat: (
            lat_range.0 + (f64::from(ilat) * 1.0 / div) * lat_scale,
            lat_range.0 + ((f64::from(ilat) + 1.0) * 1.0 / div) * lat_scale,
        ),
        lon: (
            lon_range.0 + (f64::from(ilon) * 1.0 / div) * lon_scale,
            lon_range.0 + ((f64::from(ilon) + 1.0) * 1.0 / div) * lon_scale,
        ),
    }
}

/// The position a stored score stands for (the centre of its cell),
/// `decodeGeohash`.
pub fn position(score: f64) -> (f64, f64) {
    let h = Bits {
        bits: score as u64,
        step: STEP_MAX,
    };
    let a = decode(RANGES.0, RANGES.1, h);
    let lon = ((a.lon.0 + a.lon.1) / 2.0).clamp(LONG_MIN, LONG_MAX);
    let lat = ((a.lat.0 + a.lat.1) / 2.0).clamp(LAT_MIN, LAT_MAX);
    (lon, lat)
}

/// GEOHASH's standard 11-character geohash of a stored score.
pub fn geohash_string(score: f64) -> String {
    const ALPHABET: &[u8] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let (lon, lat) = position(score);
    let bits = encode((-180.0, 180.0), (-90.0, 90.0), lon, lat, 26).map_or(0, |b| b.bits);
    (0..11)
        .map(|i| {
            let idx = if i == 10 {
                0
            } else {
                (bits >> (52 - (i + 1) * 5)) & 0x1f
            };
            ALPHABET[idx as usize] as char
        })
        .collect()
}

/// Distance along a meridian.
pub fn lat_distance(lat1: f64, lat2: f64) -> f64 {
    EARTH_RADIUS * (deg_rad(lat2) - deg_rad(lat1)).abs()
}

/// `geohashGetDistance`: haversine great-circle distance in meters.
pub fn distance(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let lon1r = deg_rad(lon1);
    let lon2r = deg_rad(lon2);
    let v = ((lon2r - lon1r) / 2.0).sin();
    if v == 0.0 {
        return lat_distance(lat1, lat2);
    }
    let lat1r = deg_rad(lat1);
    let lat2r = deg_rad(lat2);
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS * a.sqrt().asin()
}

/// A search shape, in meters (already converted).
#[derive(Clone, Copy, Debug)]
pub enum Shape {
    /// BYRADIUS.
    Radius(f64),
    /// BYBOX width height.
    Box(f64, f64),
}

/// Is (lon, lat) inside `shape` around (clon, clat)? Its distance if so
/// (`geohashGetDistanceIfInRadius` / `...IfInRectangle`).
pub fn within(shape: Shape, (clon, clat): (f64, f64), (lon, lat): (f64, f64)) -> Option<f64> {
    match shape {
        Shape::Radius(r) => {
            let d = distance(clon, clat, lon, lat);
            (d <= r).then_some(d)
        }
        Shape::Box(w, h) => {
            if lat_distance(lat, clat) > h / 2.0 {
                return None;
            }
            if distance(lon, lat, clon, lat) > w / 2.0 {
                return None;
            }
            Some(distance(clon, clat, lon, lat))
        }
    }
}

fn estimate_steps(mut range: f64, lat: f64) -> u8 {
    if range == 0.0 {
        return 26;
    }
    let mut step: i32 = 1;
    while range < MERCATOR_MAX {
        range *= 2.0;
        step += 1;
    }
    step -= 2;
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, 26) as u8
}

const LON_BITS: u64 = 0xaaaa_aaaa_aaaa_aaaa;
const LAT_BITS: u64 = 0x5555_5555_5555_5555;

/// `geohash_move_x` / `geohash_move_y`: step one cell along the axis whose
/// bits are `axis` (the odd bits are longitude, the even ones latitude).
fn move_axis(h: &mut Bits, d: i8, axis: u64) {
    if d == 0 {
        return;
    }
    let shift = 64 - u32::from(h.step) * 2;
    let other = !axis;
    let mut v = h.bits & axis;
    let zz = other >> shift;
    if d > 0 {
        v = v.wrapping_add(zz + 1);
    } else {
        v |= zz;
        v = v.wrapping_sub(zz + 1);
    }
    v &= axis >> shift;
    h.bits = v | (h.bits & other);
}

fn moved(h: Bits, dx: i8, dy: i8) -> Bits {
    let mut n = h;
    move_axis(&mut n, dx, LON_BITS);
    move_axis(&mut n, dy, LAT_BITS);
    n
}

const ZERO: Bits = Bits { bits: 0, step: 0 };

/// The cells to scan, in Redis's order (centre, N, S, E, W, NE, NW, SE,
/// SW), excluded ones as step 0 (`geohashCalculateAreasByShapeWGS84`).
pub fn search_cells(shape: Shape, (lon, lat): (f64, f64)) -> [Bits; 9] {
    let (half_h, half_w) = match shape {
        Shape::Radius(r) => (r, r),
        Shape::Box(w, h) => (h / 2.0, w / 2.0),
    };
    let lat_delta = rad_deg(half_h / EARTH_RADIUS);
    let lon_delta_top = rad_deg(half_w / EARTH_RADIUS / deg_rad(lat + lat_delta).cos());
    let lon_delta_bottom = rad_deg(half_w / EARTH_RADIUS / deg_rad(lat - lat_delta).cos());
    let south = lat < 0.0;
    let min_lon = if south {
        lon - lon_delta_bottom
    } else {
        lon - lon_delta_top
    };
    let max_lon = if south {
        lon + lon_delta_bottom
    } else {
        lon + lon_delta_top
    };
    let (min_lat, max_lat) = (lat - lat_delta, lat + lat_delta);
    let radius = match shape {
        Shape::Radius(r) => r,
        Shape::Box(w, h) => ((w / 2.0) * (w / 2.0) + (h / 2.0) * (h / 2.0)).sqrt(),
    };
    let mut steps = estimate_steps(radius, lat);
    let cell = |steps| encode(RANGES.0, RANGES.1, lon, lat, steps).unwrap_or(ZERO);
    let mut hash = cell(steps);
    let mut n = neighbours(hash);
    let dec = |b| decode(RANGES.0, RANGES.1, b);
    let decrease = dec(n[1]).lat.1 < max_lat
        || dec(n[2]).lat.0 > min_lat
        || dec(n[3]).lon.1 < max_lon
        || dec(n[4]).lon.0 > min_lon;
    if steps > 1 && decrease {
        steps -= 1;
        hash = cell(steps);
        n = neighbours(hash);
    }
    let area = dec(hash);
    if steps >= 2 {
        // Cells beyond an edge of the search box: 1 N, 2 S, 3 E, 4 W,
        // 5 NE, 6 NW, 7 SE, 8 SW.
        let edges = [
            (area.lat.0 < min_lat, [2, 8, 7]),
            (area.lat.1 > max_lat, [1, 5, 6]),
            (area.lon.0 < min_lon, [4, 8, 6]),
            (area.lon.1 > max_lon, [3, 7, 5]),
        ];
        for (beyond, cells) in edges {
            if beyond {
                for i in cells {
                    n[i] = ZERO;
                }
            }
        }
    }
    n
}

/// The cell and its eight neighbours, in Redis's scan order.
fn neighbours(h: Bits) -> [Bits; 9] {
    [
        h,
        moved(h, 0, 1),
        moved(h, 0, -1),
        moved(h, 1, 0),
        moved(h, -1, 0),
        moved(h, 1, 1),
        moved(h, -1, 1),
        moved(h, 1, -1),
        moved(h, -1, -1),
    ]
}

/// The score range `[min, max)` a cell covers at full precision.
pub fn score_range(h: Bits) -> (f64, f64) {
    let shift = 52 - u32::from(h.step) * 2;
    ((h.bits << shift) as f64, ((h.bits + 1) << shift) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_round_trip_to_the_cell_centre() {
        // Palermo, from Redis's documentation: score 3479099956230698.
        let s = score(13.361389, 38.115556);
        assert_eq!(s, 3_479_099_956_230_698.0);
        let (lon, lat) = position(s);
        assert!((lon - 13.361389).abs() < 1e-5 && (lat - 38.115556).abs() < 1e-5);
        assert_eq!(geohash_string(s), "sqc8b49rny0");
    }

    #[test]
    fn interleave_round_trips() {
        for v in [0u32, 1, 0xdead_beef, u32::MAX] {
            assert_eq!(squash(spread(v)), v);
            assert_eq!(squash(spread(v) << 1 >> 1), v);
        }
    }
}
