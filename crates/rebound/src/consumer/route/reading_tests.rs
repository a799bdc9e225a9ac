//! The route's readings of a record's own headers: its attempt number and its due time, when
//! the headers are missing, corrupt or absurd.

use super::*;
use crate::headers::{encode_big_integer, encode_i32, Headers, ATTEMPTS, BACKOFF_TIMESTAMP};

#[test]
fn attempts_fall_back_to_the_topics_first_delivery() {
    let with = |value: &[u8]| {
        let mut headers = Headers::new();
        headers.push(ATTEMPTS, bytes::Bytes::copy_from_slice(value));
        Record::new("t-retry", 0, 0).with_headers(headers)
    };
    assert_eq!(attempt_of(&with(&encode_i32(4)), 2), 4);
    assert_eq!(attempt_of(&with(&[3]), 2), 3);
    assert_eq!(attempt_of(&with(&[0xff]), 2), 255, "one byte is unsigned");
    assert_eq!(attempt_of(&with(&[0, 0, 0x7f, 0xff]), 2), 32767);
    assert_eq!(attempt_of(&with(&[0, 0, 0x80, 0]), 2), 2, "over the cap");
    assert_eq!(attempt_of(&with(&[0, 0, 0, 0]), 2), 2, "out of range");
    assert_eq!(attempt_of(&with(&[1, 2]), 2), 2, "bad length");
    assert_eq!(attempt_of(&Record::new("t-retry", 0, 0), 3), 3, "missing");
    let mut null = Headers::new();
    null.push(ATTEMPTS, encode_i32(4));
    null.push_null(ATTEMPTS);
    let record = Record::new("t-retry", 0, 0).with_headers(null);
    assert_eq!(attempt_of(&record, 2), 2, "a null last value is none");
}

#[test]
fn due_times_in_the_past_corrupt_or_absurd_mean_now() {
    let due = |value: Vec<u8>| {
        let mut headers = Headers::new();
        headers.push(BACKOFF_TIMESTAMP, value);
        wait_until_due(&Record::new("t-retry", 0, 0).with_headers(headers))
    };
    let now = EpochMillis::now();
    let soon = due(encode_big_integer((now + Duration::from_secs(2)).as_i64()).to_vec());
    // `now` is rounded up to the next millisecond, so the wait may be 1 ms over.
    assert!(soon.is_some_and(|w| w > Duration::from_secs(1) && w <= Duration::from_millis(2001)));
    assert_eq!(
        due(encode_big_integer(now.as_i64() - 1000).to_vec()),
        None,
        "past"
    );
    assert_eq!(due(vec![0; 9]), None, "corrupt");
    // Spring 4.0.7's length guard: no bytes, or more than 8 (even a 9-byte BigInteger that
    // Java reads as a time 2 s ahead), is no due time; 8 bytes (a long) is one.
    let ahead = (now + Duration::from_secs(2)).as_i64();
    assert_eq!(due(vec![]), None, "no bytes");
    let nine = [&[0u8][..], &ahead.to_be_bytes()].concat();
    assert_eq!(due(nine), None, "9 bytes");
    assert!(due(ahead.to_be_bytes().to_vec()).is_some(), "a long");
    let ahead = now + Duration::from_secs(3 * 24 * 3600);
    assert_eq!(
        due(encode_big_integer(ahead.as_i64()).to_vec()),
        None,
        "absurd"
    );
    // Just over the day's limit (the broker test of hostile headers had this row): absurd too;
    // just under it, a wait.
    let over = now + Duration::from_secs(25 * 3600);
    assert_eq!(
        due(encode_big_integer(over.as_i64()).to_vec()),
        None,
        "25 h ahead"
    );
    let under = now + Duration::from_secs(23 * 3600);
    assert!(
        due(encode_big_integer(under.as_i64()).to_vec()).is_some(),
        "23 h ahead"
    );
    assert_eq!(
        wait_until_due(&Record::new("t-retry", 0, 0)),
        None,
        "missing"
    );
}
