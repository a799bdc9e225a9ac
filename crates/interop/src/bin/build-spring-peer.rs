//! Builds the Spring peer's jar (interop/spring-email) when it is missing or older than its
//! sources, the same cached build the tests use, and prints its path. For CI, before the tests:
//! `cargo run -q -p interop --bin build-spring-peer`.

fn main() {
    println!("{}", interop::spring_jar().display());
}
