//! A header key that is not UTF-8.

use super::*;

/// Kafka header keys are strings, but nothing on the wire forces them to be UTF-8 (a client in
/// another language, or a proxy, can write any bytes). Such a record must not stop the worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_header_key_that_is_not_utf8_does_not_stop_the_worker() {
    init_tracing();
    let topic = unique("hostile-header-key");
    create_topic(&topic, 1).await;
    let calls = Recorder::new();
    let consumer = RetryingConsumer::builder(kafka(), &topic, &unique("g"))
        .policy(RetryPolicy::new(2).backoff(Backoff::Fixed(Duration::from_millis(100))))
        .handler(keyed_handler(&calls))
        .build()
        .unwrap();
    let mut running = RunningConsumer::spawn(consumer);

    let producer = producer();
    let headers = OwnedHeaders::new();
    let key = b"bad-\xff\xfe-key";
    let value = b"v";
    // SAFETY: `as_borrowed` points at the librdkafka headers object that `headers` owns;
    // rd_kafka_header_add copies the name and value.
    let err = unsafe {
        let native = headers.as_borrowed() as *const rdkafka::message::BorrowedHeaders
            as *mut rdkafka::bindings::rd_kafka_headers_t;
        rdkafka::bindings::rd_kafka_header_add(
            native,
            key.as_ptr() as *const std::os::raw::c_char,
            key.len() as isize,
            value.as_ptr() as *const std::os::raw::c_void,
            value.len() as isize,
        )
    };
    assert_eq!(
        err,
        rdkafka::bindings::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR
    );
    send(&producer, &topic, "odd-header-key", Some(b"x"), headers).await;
    send(&producer, &topic, "after", Some(b"y"), OwnedHeaders::new()).await;

    // Until the next record is handled, or the consumer stopped (which the check below reports).
    wait_for(
        Duration::from_secs(30),
        "the record after the odd one",
        || {
            let (stopped, keys) = (!running.is_running(), calls.keys());
            async move {
                match stopped || keys.iter().any(|k| k == "after") {
                    true => Ok(()),
                    false => Err(format!("handled so far: {keys:?}")),
                }
            }
        },
    )
    .await;
    if let Some(outcome) = running.outcome().await {
        panic!("the consumer stopped: {outcome:?}");
    }
    assert!(
        !calls.for_key("odd-header-key").is_empty(),
        "the record with the odd header key was handled"
    );
    assert!(
        !calls.for_key("after").is_empty(),
        "the next record was handled"
    );
    running.stop().await.unwrap();
}
