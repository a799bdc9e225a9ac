//! The e-mail system of the scenario. Its services (api, worker, dlt-worker, demo) come with the
//! e-mail stage of the project.

fn main() {
    eprintln!("mailer: not built yet; see the README");
    std::process::exit(2);
}
