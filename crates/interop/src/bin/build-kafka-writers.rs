//! Builds the other dialects' real writers (interop/kafka-writers: Kafka Connect, a share consumer,
//! Kafka Streams) when missing or older than their sources, the same cached build the tests use,
//! and prints their class path. For CI, before the tests: `cargo run -q -p interop --bin
//! build-kafka-writers`.

fn main() {
    println!("{}", interop::kafka_writers_classpath());
}
