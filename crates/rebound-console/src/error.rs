//! What stops the console from starting, worded so the person starting it knows what to change.
//! (A request that goes wrong is a page, not an error: see `pages::problem`.)

use std::net::SocketAddr;
use std::path::PathBuf;

/// Why the console cannot start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConsoleError {
    /// Listening beyond this machine without tokens would let anyone who can reach it act on
    /// dead letters (as in CVE-2023-52251, CVE-2024-32030).
    #[error(
        "refusing to listen on {addr} without tokens: it is not a loopback address, so anyone \
         who can reach it could redrive and discard dead letters. Configure tokens with \
         --tokens-file <file> or the REBOUND_CONSOLE_TOKENS environment variable (one \
         `role:token` or `role:name:token` per line, roles viewer, operator, admin), or listen \
         on 127.0.0.1"
    )]
    NonLoopbackWithoutTokens {
        /// The address asked for.
        addr: SocketAddr,
    },
    /// A tokens line that does not parse. The message never contains the token.
    #[error("{origin}, line {line}: {problem}")]
    BadTokens {
        /// Where the line came from: the file's path or the environment variable's name.
        origin: String,
        /// The line number, from 1.
        line: usize,
        /// What is wrong with it and the expected form.
        problem: String,
    },
    /// The tokens file could not be read.
    #[error("could not read the tokens file {path}: {error}")]
    TokensFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        error: std::io::Error,
    },
    /// Listening or serving failed.
    #[error("the console's listener failed: {0}")]
    Io(#[from] std::io::Error),
}
