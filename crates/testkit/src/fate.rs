//! The chaos test's rule for each record's end, shared by the test (which audits) and the
//! `chaos-worker` binary (which handles): both decide from the record's id alone. The
//! `chain-worker` reads the same fields from the payload instead.

use rebound::Failure;
use rebound::Message;

/// What the chaos test's handler does with record `id`, decided by the id alone so that the audit
/// knows every record's expected end (see `tests/chaos/` and the `chaos-worker` binary).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fate {
    /// The handler fails (transiently) on attempts `1..=fail_times`, then succeeds.
    pub fail_times: u32,
    /// The handler fails permanently on the first attempt: straight to the DLT.
    pub permanent: bool,
}

impl Fate {
    /// The fate of record `id`: 55 % succeed at once, 10 % fail once, 10 % twice, 5 % three
    /// times, 10 % four times (with 4 attempts: dead-lettered once exhausted), 10 % permanent.
    pub fn of(id: u64) -> Fate {
        // splitmix64: neighbouring ids get unrelated fates.
        let mut z = id.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        let (fail_times, permanent) = match z % 20 {
            0..=10 => (0, false),
            11 | 12 => (1, false),
            13 | 14 => (2, false),
            15 => (3, false),
            16 | 17 => (4, false),
            _ => (0, true),
        };
        Fate {
            fail_times,
            permanent,
        }
    }

    /// What the handler answers for job `id` on delivery `attempt`: a permanent failure, a
    /// transient one, or success.
    pub fn judge(&self, id: u64, attempt: u32) -> Result<(), Failure> {
        if self.permanent {
            return Err(Failure::permanent(Message(format!(
                "job {id} can never work"
            ))));
        }
        if attempt <= self.fail_times {
            return Err(Failure::msg(format!("job {id} fails on attempt {attempt}")));
        }
        Ok(())
    }

    /// Whether the record ends in the DLT under a policy of `attempts` deliveries.
    pub fn dead_letters(&self, attempts: u32) -> bool {
        self.permanent || self.fail_times >= attempts
    }
}
