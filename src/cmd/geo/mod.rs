//! Geo commands on sorted sets: GEOADD, GEODIST, GEOHASH, GEOPOS,
//! GEOSEARCH, GEOSEARCHSTORE, GEORADIUS, GEORADIUSBYMEMBER and the _RO
//! forms, as Redis 7.0's `geo.c`: a member's score is its 52-bit geohash
//! ([`hash`]), a search scans the nine cells Redis scans in Redis's order
//! and filters by exact distance, so results, their order and every
//! printed number match Redis.

pub mod hash;

use bytes::Bytes;
use store_api::value::ZSet;
use store_api::Store;

use super::zsets::{parse_zadd, zset_of};
use super::{is, Args, CmdError, Command, Ctx, Reply};
use crate::db::events::class;
use crate::protocol::Frame;
use crate::util::longdouble::{format_human, F80};
use crate::util::numbers::string2d;
use hash::Shape;

/// Geo commands (the searches keep their raw options: Redis checks them
/// only after the key's type).
#[derive(Debug)]
pub enum Cmd {
    /// `GEODIST key member1 member2 [unit]`
    Dist(Box<(Bytes, Bytes, Bytes, Option<Bytes>)>),
    /// `GEOHASH key [member ...]`
    Hash(Bytes, Vec<Bytes>),
    /// `GEOPOS key [member ...]`
    Pos(Bytes, Vec<Bytes>),
    /// GEOSEARCH, GEOSEARCHSTORE, GEORADIUS*, with their raw arguments.
    Search(Search),
}

/// Which search command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// GEORADIUS (`ro`: GEORADIUS_RO).
    Radius { ro: bool },
    /// GEORADIUSBYMEMBER.
    ByMember { ro: bool },
    /// GEOSEARCH.
    Search,
    /// GEOSEARCHSTORE.
    SearchStore,
}

/// A search, as typed.
#[derive(Debug)]
pub struct Search {
    kind: Kind,
    /// The command name as typed (some errors quote it).
    name: Bytes,
    argv: Vec<Bytes>,
}

fn parse_geoadd(mut a: Args<'_>) -> Result<Command, CmdError> {
    let key = a.bytes()?;
    let rest = a.rest();
    let mut i = 0;
    let mut zargs = vec![key];
    let (mut nx, mut xx) = (false, false);
    while let Some(w) = rest.get(i) {
        if is(w, "NX") {
            nx = true;
        } else if is(w, "XX") {
            xx = true;
        } else if !is(w, "CH") {
            break;
        }
        zargs.push(w.clone());
        i += 1;
    }
    let triples = &rest[i..];
    if triples.len() % 3 != 0 || (nx && xx) {
        return Err(CmdError::Syntax);
    }
    for t in triples.chunks_exact(3) {
        let (lon, lat) = lon_lat(&t[0], &t[1])?;
        let score = hash::score(lon, lat) as u64;
        zargs.push(Bytes::from(score.to_string()));
        zargs.push(t[2].clone());
    }
    // GEOADD is ZADD with encoded positions (Redis rewrites it so).
    parse_zadd(Args::new(&zargs))
}

fn lon_lat(lon: &[u8], lat: &[u8]) -> Result<(f64, f64), CmdError> {
    let lon = string2d(lon).ok_or(CmdError::NotFloat)?;
    let lat = string2d(lat).ok_or(CmdError::NotFloat)?;
    if !(hash::LONG_MIN..=hash::LONG_MAX).contains(&lon)
        || !(hash::LAT_MIN..=hash::LAT_MAX).contains(&lat)
    {
        return Err(CmdError::BadLonLat(format!("{lon:.6},{lat:.6}")));
    }
    Ok((lon, lat))
}

fn parse_geodist(mut a: Args<'_>) -> Result<Command, CmdError> {
    let (key, m1, m2) = (a.bytes()?, a.bytes()?, a.bytes()?);
    let rest = a.rest();
    if rest.len() > 1 {
        return Err(CmdError::Syntax);
    }
    Ok(Command::Geo(Cmd::Dist(Box::new((
        key,
        m1,
        m2,
        rest.into_iter().next(),
    )))))
}

fn parse_geohash(mut a: Args<'_>) -> Result<Command, CmdError> {
    let key = a.bytes()?;
    Ok(Command::Geo(Cmd::Hash(key, a.rest())))
}

fn parse_geopos(mut a: Args<'_>) -> Result<Command, CmdError> {
    let key = a.bytes()?;
    Ok(Command::Geo(Cmd::Pos(key, a.rest())))
}

fn search(a: Args<'_>, kind: Kind) -> Result<Command, CmdError> {
    let name = a.typed_name();
    Ok(Command::Geo(Cmd::Search(Search {
        kind,
        name,
        argv: a.rest(),
    })))
}

fn parse_georadius(a: Args<'_>) -> Result<Command, CmdError> {
    search(a, Kind::Radius { ro: false })
}

fn parse_georadius_ro(a: Args<'_>) -> Result<Command, CmdError> {
    search(a, Kind::Radius { ro: true })
}

fn parse_georadiusbymember(a: Args<'_>) -> Result<Command, CmdError> {
    search(a, Kind::ByMember { ro: false })
}

fn parse_georadiusbymember_ro(a: Args<'_>) -> Result<Command, CmdError> {
    search(a, Kind::ByMember { ro: true })
}

fn parse_geosearch(a: Args<'_>) -> Result<Command, CmdError> {
    search(a, Kind::Search)
}

fn parse_geosearchstore(a: Args<'_>) -> Result<Command, CmdError> {
    search(a, Kind::SearchStore)
}

/// Table rows.
pub const ROWS: &[super::Row] = &[
    ("geoadd", parse_geoadd),
    ("geodist", parse_geodist),
    ("geohash", parse_geohash),
    ("geopos", parse_geopos),
    ("georadius", parse_georadius),
    ("georadius_ro", parse_georadius_ro),
    ("georadiusbymember", parse_georadiusbymember),
    ("georadiusbymember_ro", parse_georadiusbymember_ro),
    ("geosearch", parse_geosearch),
    ("geosearchstore", parse_geosearchstore),
];

fn unit(u: &[u8]) -> Result<f64, CmdError> {
    if is(u, "M") {
        Ok(1.0)
    } else if is(u, "KM") {
        Ok(1000.0)
    } else if is(u, "FT") {
        Ok(0.3048)
    } else if is(u, "MI") {
        Ok(1609.34)
    } else {
        Err(CmdError::GeoUnit)
    }
}

/// A coordinate as GEOPOS and WITHCOORD print it (long double, human).
fn coord(v: f64) -> Frame {
    Frame::DoubleText(Bytes::from(format_human(F80::from_f64(v))))
}

/// A distance as Redis prints it: `%.4f`, a bulk string in both protocols.
fn dist_frame(d: f64) -> Frame {
    Frame::Bulk(Bytes::from(format!("{d:.4}")))
}

/// Execute a geo command.
pub fn execute<S: Store>(cmd: Cmd, ctx: &mut Ctx<'_, S>) -> Result<Reply, CmdError> {
    let read = |ctx: &Ctx<'_, S>, key: &[u8]| {
        ctx.ks()
            .read(key, ctx.now, |e| zset_of(e).map(|z| z.cloned()))
    };
    let frame = match cmd {
        Cmd::Dist(args) => {
            let (key, m1, m2, u) = *args;
            let to_m = u.as_deref().map(unit).transpose()?.unwrap_or(1.0);
            let Some(z) = read(ctx, &key)? else {
                return Ok(Reply::Now(Frame::Null));
            };
            let z = z.read();
            match (z.score(&m1), z.score(&m2)) {
                (Some(a), Some(b)) => {
                    let ((x1, y1), (x2, y2)) = (hash::position(a), hash::position(b));
                    dist_frame(hash::distance(x1, y1, x2, y2) / to_m)
                }
                _ => Frame::Null,
            }
        }
        Cmd::Hash(key, members) => {
            let z = read(ctx, &key)?;
            let z = z.as_ref().map(|z| z.read());
            Frame::Array(
                members
                    .iter()
                    .map(|m| {
                        z.as_ref()
                            .and_then(|z| z.score(m))
                            .map_or(Frame::Null, |s| Frame::bulk(hash::geohash_string(s)))
                    })
                    .collect(),
            )
        }
        Cmd::Pos(key, members) => {
            let z = read(ctx, &key)?;
            let z = z.as_ref().map(|z| z.read());
            Frame::Array(
                members
                    .iter()
                    .map(|m| match z.as_ref().and_then(|z| z.score(m)) {
                        Some(s) => {
                            let (lon, lat) = hash::position(s);
                            Frame::Array(vec![coord(lon), coord(lat)])
                        }
                        None => Frame::NullArray,
                    })
                    .collect(),
            )
        }
        Cmd::Search(s) => search_exec(ctx, s)?,
    };
    Ok(Reply::Now(frame))
}

/// Ordering of search results.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sort {
    None,
    Asc,
    Desc,
}

/// A parsed search.
struct Query {
    center: (f64, f64),
    shape: Shape,
    /// Meters per unit of the reply.
    conversion: f64,
    withdist: bool,
    withhash: bool,
    withcoord: bool,
    sort: Sort,
    count: usize,
    any: bool,
    store: Option<(Bytes, bool)>,
}

/// One match.
struct Point {
    member: Vec<u8>,
    score: f64,
    dist: f64,
    lon: f64,
    lat: f64,
}

/// Parse a search's arguments as `georadiusGeneric`, with the source set
/// (if any) at hand for FROMMEMBER and BYMEMBER.
fn parse_query(s: &Search, z: Option<&ZSet>) -> Result<Query, CmdError> {
    let a = &s.argv;
    let need = |n: usize| {
        if a.len() < n {
            Err(CmdError::Syntax)
        } else {
            Ok(())
        }
    };
    let decode = |m: &[u8]| -> Result<(f64, f64), CmdError> {
        z.and_then(|z| z.score(m))
            .map(hash::position)
            .ok_or(CmdError::GeoMemberDecode)
    };
    let radius = |r: &[u8], u: &[u8]| -> Result<(f64, f64), CmdError> {
        let d = string2d(r).ok_or(CmdError::GeoNeed("radius"))?;
        if d < 0.0 {
            return Err(CmdError::GeoRadiusNegative);
        }
        Ok((d, unit(u)?))
    };
    let mut q = Query {
        center: (0.0, 0.0),
        shape: Shape::Radius(0.0),
        conversion: 1.0,
        withdist: false,
        withhash: false,
        withcoord: false,
        sort: Sort::None,
        count: 0,
        any: false,
        store: None,
    };
    let (base, geosearch) = match s.kind {
        Kind::Radius { .. } => {
            need(5)?;
            q.center = lon_lat(&a[1], &a[2])?;
            let (r, c) = radius(&a[3], &a[4])?;
            (q.shape, q.conversion) = (Shape::Radius(r), c);
            (5, false)
        }
        Kind::ByMember { .. } if z.is_none() => (4, false),
        Kind::ByMember { .. } => {
            need(4)?;
            q.center = decode(&a[1])?;
            let (r, c) = radius(&a[2], &a[3])?;
            (q.shape, q.conversion) = (Shape::Radius(r), c);
            (4, false)
        }
        Kind::Search => (1, true),
        Kind::SearchStore => {
            q.store = Some((a[0].clone(), false));
            (2, true)
        }
    };
    let no_store = matches!(
        s.kind,
        Kind::Radius { ro: true } | Kind::ByMember { ro: true }
    );
    let (mut frommember, mut fromloc, mut byradius, mut bybox) = (false, false, false, false);
    let rest = a.get(base..).unwrap_or_default();
    let mut i = 0;
    while i < rest.len() {
        let w = &rest[i];
        let left = rest.len() - i - 1;
        if is(w, "WITHDIST") {
            q.withdist = true;
        } else if is(w, "WITHHASH") {
            q.withhash = true;
        } else if is(w, "WITHCOORD") {
            q.withcoord = true;
        } else if is(w, "ANY") {
            q.any = true;
        } else if is(w, "ASC") {
            q.sort = Sort::Asc;
        } else if is(w, "DESC") {
            q.sort = Sort::Desc;
        } else if is(w, "COUNT") && left >= 1 {
            let n = super::parse_int(&rest[i + 1])?;
            if n <= 0 {
                return Err(CmdError::GeoCountPositive);
            }
            q.count = n as usize;
            i += 1;
        } else if (is(w, "STORE") || is(w, "STOREDIST")) && left >= 1 && !no_store && !geosearch {
            q.store = Some((rest[i + 1].clone(), is(w, "STOREDIST")));
            i += 1;
        } else if is(w, "STOREDIST") && s.kind == Kind::SearchStore {
            if let Some((_, d)) = &mut q.store {
                *d = true;
            }
        } else if is(w, "FROMMEMBER") && left >= 1 && geosearch && !fromloc {
            if z.is_some() {
                q.center = decode(&rest[i + 1])?;
            }
            frommember = true;
            i += 1;
        } else if is(w, "FROMLONLAT") && left >= 2 && geosearch && !frommember {
            q.center = lon_lat(&rest[i + 1], &rest[i + 2])?;
            fromloc = true;
            i += 2;
        } else if is(w, "BYRADIUS") && left >= 2 && geosearch && !bybox {
            let (r, c) = radius(&rest[i + 1], &rest[i + 2])?;
            (q.shape, q.conversion) = (Shape::Radius(r), c);
            byradius = true;
            i += 2;
        } else if is(w, "BYBOX") && left >= 3 && geosearch && !byradius {
            let wd = string2d(&rest[i + 1]).ok_or(CmdError::GeoNeed("width"))?;
            let ht = string2d(&rest[i + 2]).ok_or(CmdError::GeoNeed("height"))?;
            if wd < 0.0 || ht < 0.0 {
                return Err(CmdError::GeoBoxNegative);
            }
            (q.shape, q.conversion) = (Shape::Box(wd, ht), unit(&rest[i + 3])?);
            bybox = true;
            i += 3;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    if q.store.is_some() && (q.withdist || q.withhash || q.withcoord) {
        return Err(CmdError::GeoStoreWith(s.kind == Kind::SearchStore));
    }
    let name = String::from_utf8_lossy(&s.name).into_owned();
    if geosearch && !(frommember || fromloc) {
        return Err(CmdError::GeoFrom(name));
    }
    if geosearch && !(byradius || bybox) {
        return Err(CmdError::GeoBy(name));
    }
    if q.any && q.count == 0 {
        return Err(CmdError::GeoAnyCount);
    }
    Ok(q)
}

/// Run a search: the matches, in Redis's scan order, then sorted.
fn find(z: &ZSet, q: &Query) -> Vec<Point> {
    let shape = match q.shape {
        Shape::Radius(r) => Shape::Radius(r * q.conversion),
        Shape::Box(w, h) => Shape::Box(w * q.conversion, h * q.conversion),
    };
    let limit = if q.any { q.count } else { 0 };
    let cells = hash::search_cells(shape, q.center);
    let mut out: Vec<Point> = Vec::new();
    let mut last = 0;
    for (i, cell) in cells.iter().enumerate() {
        if cell.bits == 0 && cell.step == 0 {
            continue;
        }
        // Redis skips a cell equal to the last one it scanned (but never
        // compares with the centre).
        if last != 0 && cells[last] == *cell {
            continue;
        }
        if !out.is_empty() && limit > 0 && out.len() >= limit {
            break;
        }
        let (min, max) = hash::score_range(*cell);
        let start = z.count_while(|s, _| s < min);
        let end = z.count_while(|s, _| s < max);
        for (m, score) in z.range(start, end) {
            let (lon, lat) = hash::position(score);
            if let Some(dist) = hash::within(shape, q.center, (lon, lat)) {
                out.push(Point {
                    member: m.to_vec(),
                    score,
                    dist,
                    lon,
                    lat,
                });
                if limit > 0 && out.len() >= limit {
                    break;
                }
            }
        }
        last = i;
    }
    let sort = if q.count > 0 && q.sort == Sort::None && !q.any {
        Sort::Asc
    } else {
        q.sort
    };
    match sort {
        Sort::Asc => out.sort_by(|a, b| {
            a.dist
                .partial_cmp(&b.dist)
                .unwrap_or(std::cmp::Ordering::Equal)
        }),
        Sort::Desc => out.sort_by(|a, b| {
            b.dist
                .partial_cmp(&a.dist)
                .unwrap_or(std::cmp::Ordering::Equal)
        }),
        Sort::None => {}
    }
    if q.count > 0 {
        out.truncate(q.count);
    }
    for p in &mut out {
        p.dist /= q.conversion;
    }
    out
}

fn search_exec<S: Store>(ctx: &mut Ctx<'_, S>, s: Search) -> Result<Frame, CmdError> {
    let src = match s.kind {
        Kind::SearchStore => s.argv.get(1),
        _ => s.argv.first(),
    }
    .cloned()
    .ok_or(CmdError::Syntax)?;
    // Lock the source and every key the command may store into, then read,
    // search and store under one snapshot.
    let mut keys = vec![src.clone()];
    match s.kind {
        Kind::SearchStore => keys.push(s.argv[0].clone()),
        Kind::Radius { ro: false } | Kind::ByMember { ro: false } => keys.extend(
            s.argv
                .windows(2)
                .filter(|w| is(&w[0], "STORE") || is(&w[0], "STOREDIST"))
                .map(|w| w[1].clone()),
        ),
        _ => {}
    }
    let (ks, now) = (ctx.ks(), ctx.now);
    let limits = super::zsets::limits(ctx);
    let guard = ks.lock_keys(keys.iter().map(|k| &k[..]));
    let z = ks.read_locked(&guard, &src, now, |e| zset_of(e).map(|z| z.cloned()))?;
    let zr = z.as_ref().map(|z| z.read());
    let q = parse_query(&s, zr.as_deref())?;
    let points = zr.as_ref().map(|z| find(z, &q));
    drop(zr);
    let Some((dst, storedist)) = q.store.clone() else {
        drop(guard);
        let Some(points) = points else {
            return Ok(Frame::Array(vec![]));
        };
        return Ok(reply(&q, points));
    };
    let items: Vec<(Vec<u8>, f64)> = points
        .unwrap_or_default()
        .into_iter()
        .map(|p| (p.member, if storedist { p.dist } else { p.score }))
        .collect();
    let n = items.len();
    let existed = super::zsets::store_result(ks, &guard, &dst, now, items, limits);
    drop(guard);
    if n > 0 {
        let event = if s.kind == Kind::SearchStore {
            "geosearchstore"
        } else {
            "georadiusstore"
        };
        ctx.notify(class::ZSET, event, &dst);
        ctx.defer_ready(vec![dst]);
    } else if existed {
        ctx.notify(class::GENERIC, "del", &dst);
    }
    Ok(Frame::Integer(n as i64))
}

/// The reply of a search without STORE.
fn reply(q: &Query, points: Vec<Point>) -> Frame {
    let opts = usize::from(q.withdist) + usize::from(q.withhash) + usize::from(q.withcoord);
    Frame::Array(
        points
            .into_iter()
            .map(|p| {
                let m = Frame::Bulk(Bytes::from(p.member));
                if opts == 0 {
                    return m;
                }
                let mut v = vec![m];
                if q.withdist {
                    v.push(dist_frame(p.dist));
                }
                if q.withhash {
                    v.push(Frame::Integer(p.score as i64));
                }
                if q.withcoord {
                    v.push(Frame::Array(vec![coord(p.lon), coord(p.lat)]));
                }
                Frame::Array(v)
            })
            .collect(),
    )
}
