//! TTL arithmetic in one place: units, relative and absolute deadlines,
//! and how a stored deadline is reported back.
//!
//! A TTL is stored as an absolute deadline in milliseconds since the Unix
//! epoch. Commands give it in seconds or milliseconds ([`Unit`]), from now
//! or as a point in time ([`Base`]); two validation rules exist in Redis and
//! both are kept exactly:
//! - SET, GETEX, SETEX, PSETEX (`getExpireMillisecondsOrReply`): the number
//!   must be positive, and the deadline must not overflow or be <= 0;
//! - the EXPIRE family (`expireGenericCommand`): any number, overflow is an
//!   error, a deadline in the past deletes the key.

/// The unit a command gives a TTL in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// EX, EXAT, EXPIRE, EXPIREAT, TTL, EXPIRETIME.
    Seconds,
    /// PX, PXAT, PEXPIRE, PEXPIREAT, PTTL, PEXPIRETIME.
    Millis,
}

/// What a TTL is measured from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Base {
    /// A duration from now (EX, EXPIRE, TTL).
    Relative,
    /// A Unix time (EXAT, EXPIREAT, EXPIRETIME).
    Absolute,
}

/// The deadline of SET-style expiry options: `None` when Redis answers
/// `invalid expire time` (a number <= 0, or an overflowing deadline).
pub fn set_deadline(n: i64, unit: Unit, base: Base, now: u64) -> Option<u64> {
    if n <= 0 || (unit == Unit::Seconds && n > i64::MAX / 1000) {
        return None;
    }
    let ms = match unit {
        Unit::Seconds => n * 1000,
        Unit::Millis => n,
    };
    let at = match base {
        Base::Absolute => Some(ms),
        Base::Relative => ms.checked_add(now as i64),
    };
    at.filter(|&at| at > 0).map(|at| at as u64)
}

/// The deadline of the EXPIRE family: `None` when Redis answers `invalid
/// expire time` (overflow). May lie in the past.
pub fn expire_deadline(n: i64, unit: Unit, base: Base, now: u64) -> Option<i64> {
    let when = match unit {
        Unit::Millis => n,
        Unit::Seconds => n.checked_mul(1000)?,
    };
    let base = match base {
        Base::Absolute => 0,
        Base::Relative => now as i64,
    };
    if when > i64::MAX - base {
        return None;
    }
    Some(when + base)
}

/// What TTL, PTTL, EXPIRETIME and PEXPIRETIME answer for a live key with
/// deadline `expires_at` (-1 when it has none).
pub fn report(expires_at: Option<u64>, now: u64, unit: Unit, base: Base) -> i64 {
    let Some(at) = expires_at else {
        return -1;
    };
    let at = at as i64;
    let ms = match base {
        Base::Absolute => at,
        Base::Relative => (at - now as i64).max(0),
    };
    match unit {
        Unit::Millis => ms,
        // Rounded to the nearest second without overflow: a deadline of
        // i64::MAX ms (PEXPIREAT k 9223372036854775807) answers
        // 9223372036854776 in Redis 7, not a wrapped negative number.
        Unit::Seconds => ((i128::from(ms) + 500) / 1000) as i64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_deadlines_follow_get_expire_milliseconds_or_reply() {
        let now = 1_000;
        assert_eq!(
            set_deadline(5, Unit::Seconds, Base::Relative, now),
            Some(6_000)
        );
        assert_eq!(
            set_deadline(5, Unit::Millis, Base::Relative, now),
            Some(1_005)
        );
        assert_eq!(set_deadline(7, Unit::Millis, Base::Absolute, now), Some(7));
        assert_eq!(set_deadline(0, Unit::Millis, Base::Relative, now), None);
        assert_eq!(set_deadline(-1, Unit::Seconds, Base::Absolute, now), None);
        assert_eq!(
            set_deadline(i64::MAX / 1000 + 1, Unit::Seconds, Base::Relative, now),
            None
        );
        assert_eq!(
            set_deadline(i64::MAX, Unit::Millis, Base::Relative, now),
            None
        );
        assert_eq!(
            set_deadline(i64::MAX, Unit::Millis, Base::Absolute, now),
            Some(i64::MAX as u64)
        );
    }

    #[test]
    fn expire_deadlines_may_be_in_the_past_but_never_overflow() {
        let now = 1_000;
        assert_eq!(
            expire_deadline(-1, Unit::Seconds, Base::Relative, now),
            Some(0)
        );
        assert_eq!(
            expire_deadline(2, Unit::Millis, Base::Absolute, now),
            Some(2)
        );
        assert_eq!(
            expire_deadline(i64::MAX, Unit::Seconds, Base::Absolute, now),
            None
        );
        assert_eq!(
            expire_deadline(i64::MIN, Unit::Seconds, Base::Absolute, now),
            None
        );
        assert_eq!(
            expire_deadline(i64::MAX - 999, Unit::Millis, Base::Relative, now),
            None
        );
        assert_eq!(
            expire_deadline(i64::MAX - 1000, Unit::Millis, Base::Relative, now),
            Some(i64::MAX)
        );
    }

    #[test]
    fn reports_round_seconds_to_nearest() {
        let now = 10_000;
        assert_eq!(report(None, now, Unit::Seconds, Base::Relative), -1);
        assert_eq!(report(Some(19_600), now, Unit::Seconds, Base::Relative), 10);
        assert_eq!(report(Some(19_400), now, Unit::Seconds, Base::Relative), 9);
        assert_eq!(
            report(Some(19_400), now, Unit::Millis, Base::Relative),
            9_400
        );
        assert_eq!(report(Some(5), now, Unit::Millis, Base::Relative), 0);
        assert_eq!(
            report(Some(19_400), now, Unit::Millis, Base::Absolute),
            19_400
        );
        assert_eq!(
            report(Some(i64::MAX as u64), now, Unit::Seconds, Base::Absolute),
            9_223_372_036_854_776
        );
    }
}
