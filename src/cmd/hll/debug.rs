//! PFDEBUG and PFSELFTEST: Redis's internal HyperLogLog commands, which
//! its test suite and HLL tooling use.

use bytes::Bytes;
use store_api::Store;

use super::repr::{
    add, check, dense_get, dense_set, estimate, histogram, new_hll, opcode, to_dense, DENSE, HDR,
    REGISTERS, REGISTER_MAX, SPARSE,
};
use crate::cmd::value::{edit_str, Created};
use crate::cmd::{is, CmdError, Ctx};
use crate::protocol::Frame;

/// `PFDEBUG GETREG|DECODE|ENCODING|TODENSE key`, as `pfdebugCommand`:
/// GETREG and TODENSE turn a sparse HLL dense (a change, logged as the
/// command itself).
pub fn pfdebug<S: Store>(
    ctx: &mut Ctx<'_, S>,
    sub: &Bytes,
    key: &Bytes,
) -> Result<Frame, CmdError> {
    edit_str(&ctx.ks(), key, ctx.now, Created::Raw, |s, exists| {
        if !exists {
            return Err(err("ERR The specified key does not exist"));
        }
        check(s)?;
        let densify = |s: &mut Vec<u8>| -> Result<bool, CmdError> {
            if s[4] != SPARSE {
                return Ok(false);
            }
            *s = to_dense(s).ok_or(CmdError::CorruptHll)?;
            Ok(true)
        };
        if is(sub, "GETREG") {
            let changed = densify(s)?;
            let regs = (0..REGISTERS)
                .map(|i| Frame::Integer(i64::from(dense_get(&s[HDR..], i))))
                .collect();
            Ok((Frame::Array(regs), changed))
        } else if is(sub, "DECODE") {
            if s[4] != SPARSE {
                return Err(err("ERR HLL encoding is not sparse"));
            }
            Ok((Frame::bulk(decode(s)), false))
        } else if is(sub, "ENCODING") {
            let name = if s[4] == DENSE { "dense" } else { "sparse" };
            Ok((Frame::simple(name), false))
        } else if is(sub, "TODENSE") {
            let changed = densify(s)?;
            Ok((Frame::Integer(i64::from(changed)), changed))
        } else {
            Err(err(&format!(
                "ERR Unknown PFDEBUG subcommand '{}'",
                String::from_utf8_lossy(sub)
            )))
        }
    })
}

fn err(text: &str) -> CmdError {
    CmdError::Reply(Bytes::copy_from_slice(text.as_bytes()))
}

/// PFDEBUG DECODE's text: `z:<run>` (ZERO), `Z:<run>` (XZERO),
/// `v:<value>,<run>` (VAL), space separated.
fn decode(s: &[u8]) -> String {
    let mut out = Vec::new();
    let mut at = HDR;
    while at < s.len() {
        let b = s[at];
        let Some((run, value, size)) = opcode(s, at) else {
            break;
        };
        out.push(match (value, b & 0xc0) {
            (0, 0) => format!("z:{run}"),
            (0, _) => format!("Z:{run}"),
            _ => format!("v:{value},{run}"),
        });
        at += size;
    }
    out.join(" ")
}

/// PFSELFTEST, as `pfselftestCommand`: registers set and read back
/// exactly (1,000 rounds of random values), then ten million distinct
/// elements added to a dense HLL and to one that starts sparse: at each
/// power of ten the two agree, the sparse one is still sparse while small,
/// and the error stays within six standard errors.
pub fn selftest(max_bytes: usize) -> Result<(), String> {
    let mut regs = vec![0u8; (REGISTERS * 6).div_ceil(8)];
    let mut want = vec![0u8; REGISTERS];
    for _ in 0..1000 {
        for (i, w) in want.iter_mut().enumerate() {
            *w = (crate::util::rand::next_u64() as u8) & REGISTER_MAX;
            dense_set(&mut regs, i, *w);
        }
        for (i, &w) in want.iter().enumerate() {
            let got = dense_get(&regs, i);
            if got != w {
                return Err(format!(
                    "TESTFAILED Register {i} should be {w} but is {got}"
                ));
            }
        }
    }
    let mut dense = to_dense(&new_hll()).ok_or("an empty HLL")?;
    let mut sparse = new_hll();
    let count = |s: &[u8]| histogram(s).map(|h| estimate(&h));
    let relerr = 1.04 / (REGISTERS as f64).sqrt();
    let seed = crate::util::rand::next_u64();
    let mut checkpoint: u64 = 1;
    for j in 1..=10_000_000u64 {
        let ele = (j ^ seed).to_le_bytes();
        add(&mut dense, &ele, max_bytes).map_err(|_| "TESTFAILED dense add")?;
        add(&mut sparse, &ele, max_bytes).map_err(|_| "TESTFAILED sparse add")?;
        if j != checkpoint {
            continue;
        }
        if (j as usize) < max_bytes / 2 && sparse[4] != SPARSE {
            return Err("TESTFAILED sparse encoding not used".into());
        }
        let card = count(&dense).map_err(|_| "TESTFAILED dense count")?;
        if count(&sparse).map_err(|_| "TESTFAILED sparse count")? != card {
            return Err("TESTFAILED dense/sparse disagree".into());
        }
        let abserr = checkpoint.abs_diff(card);
        let maxerr = if j == 10 {
            1
        } else {
            (relerr * 6.0 * checkpoint as f64).ceil() as u64
        };
        if abserr > maxerr {
            return Err(format!(
                "TESTFAILED Too big error. card:{checkpoint} abserr:{abserr}"
            ));
        }
        checkpoint *= 10;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_self_test_passes() {
        assert_eq!(selftest(3000), Ok(()));
    }

    #[test]
    fn decode_names_every_opcode() {
        let mut s = new_hll();
        add(&mut s, b"a", 3000).unwrap();
        let text = decode(&s);
        assert!(text.contains("v:1,1") || text.contains("v:2,1"), "{text}");
        let covered: usize = text
            .split(' ')
            .map(|op| match op.split_once(':') {
                Some(("v", rest)) => rest.split(',').nth(1).unwrap().parse::<usize>().unwrap(),
                Some((_, n)) => n.parse().unwrap(),
                None => panic!("{op}"),
            })
            .sum();
        assert_eq!(covered, REGISTERS);
    }
}
