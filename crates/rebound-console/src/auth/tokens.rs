//! Who may sign in, and as what. Tokens come from a file (`--tokens-file`) and/or the
//! `REBOUND_CONSOLE_TOKENS` environment variable, one per line:
//!
//! ```text
//! # role:token, or role:name:token (the name goes into the ledger as who acted)
//! viewer:3f1c9a…
//! operator:alice:9b2e77…
//! admin:root-on-call:c0ffee…
//! ```
//!
//! Only each token's SHA-256 digest is kept, so nothing in memory or in a `Debug` print can give
//! a token back; a presented token is digested and compared with every digest in constant time.
//! Tokens are never logged.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::ConsoleError;

/// The environment variable with tokens (same format as the file; lines or spaces between
/// entries).
pub const TOKENS_ENV: &str = "REBOUND_CONSOLE_TOKENS";

/// The shortest token accepted: shorter ones can be guessed.
pub const MIN_TOKEN_LEN: usize = 16;

/// What a signed-in person may do. Each role may do what the ones before it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Read every page.
    Viewer,
    /// Also redrive and discard.
    Operator,
    /// Also the console's own administration page.
    Admin,
}

impl Role {
    /// Its name, as written in tokens.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "viewer" => Ok(Role::Viewer),
            "operator" => Ok(Role::Operator),
            "admin" => Ok(Role::Admin),
            other => Err(format!(
                "unknown role `{other}` (viewer, operator or admin)"
            )),
        }
    }
}

/// One configured token: its role, a name for the ledger, and the token's digest.
#[derive(Clone)]
struct Entry {
    role: Role,
    name: String,
    digest: [u8; 32],
}

/// The configured tokens. Empty: the console serves loopback only and needs no sign-in.
#[derive(Clone, Default)]
pub struct Tokens {
    entries: Vec<Entry>,
}

/// Roles and names only: a token (or its digest) never appears.
impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(
                self.entries
                    .iter()
                    .map(|e| format!("{}:{}:<redacted>", e.role.as_str(), e.name)),
            )
            .finish()
    }
}

impl Tokens {
    /// Parses tokens text; `origin` (a path, an environment variable's name) names it in errors.
    /// Entries are separated by line breaks or spaces; `#` starts a comment line.
    pub fn parse(text: &str, origin: &str) -> Result<Tokens, ConsoleError> {
        let mut tokens = Tokens::default();
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            for item in line.split_whitespace() {
                let bad = |problem| ConsoleError::BadTokens {
                    origin: origin.to_string(),
                    line: number + 1,
                    problem,
                };
                let entry = parse_entry(item, tokens.entries.len()).map_err(bad)?;
                if tokens.entries.iter().any(|e| e.digest == entry.digest) {
                    return Err(bad(
                        "this token is given twice; each person needs a token of their own".into(),
                    ));
                }
                tokens.entries.push(entry);
            }
        }
        Ok(tokens)
    }

    /// The tokens of `file` (when given) and of [`TOKENS_ENV`] (when set), together.
    pub fn load(file: Option<&Path>) -> Result<Tokens, ConsoleError> {
        let mut tokens = Tokens::default();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|error| ConsoleError::TokensFile {
                path: path.to_path_buf(),
                error,
            })?;
            tokens
                .entries
                .extend(Tokens::parse(&text, &path.display().to_string())?.entries);
        }
        if let Ok(text) = std::env::var(TOKENS_ENV) {
            let from_env = Tokens::parse(&text, TOKENS_ENV)?;
            if from_env
                .entries
                .iter()
                .any(|e| tokens.entries.iter().any(|f| f.digest == e.digest))
            {
                return Err(ConsoleError::BadTokens {
                    origin: TOKENS_ENV.into(),
                    line: 1,
                    problem: "a token here is also in the tokens file; give each token once".into(),
                });
            }
            tokens.entries.extend(from_env.entries);
        }
        Ok(tokens)
    }

    /// No tokens configured.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How many tokens each role has, for the admin page.
    pub fn count(&self, role: Role) -> usize {
        self.entries.iter().filter(|e| e.role == role).count()
    }

    /// The role and name of `presented`, if it is a configured token. Every digest is compared,
    /// each in constant time, so the time taken says nothing about which matched or how closely.
    pub fn check(&self, presented: &str) -> Option<(Role, String)> {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let mut found = None;
        for entry in &self.entries {
            if bool::from(entry.digest.ct_eq(&digest)) && found.is_none() {
                found = Some((entry.role, entry.name.clone()));
            }
        }
        found
    }
}

/// `role:token` or `role:name:token`; `index` names unnamed tokens (`operator-2`).
fn parse_entry(item: &str, index: usize) -> Result<Entry, String> {
    let parts: Vec<&str> = item.splitn(3, ':').collect();
    let (role, name, token) = match parts.as_slice() {
        [role, token] => (*role, None, *token),
        [role, name, token] => (*role, Some(*name), *token),
        _ => {
            return Err(
                "expected `role:token` or `role:name:token` (roles viewer, operator, admin)".into(),
            )
        }
    };
    let role: Role = role.parse()?;
    if token.chars().count() < MIN_TOKEN_LEN {
        return Err(format!(
            "the {} token is shorter than {MIN_TOKEN_LEN} characters; generate one with \
             `openssl rand -hex 32`",
            role.as_str()
        ));
    }
    let name = match name {
        Some("") => return Err("the name between the colons is empty".into()),
        Some(name) => name.to_string(),
        None => format!("{}-{}", role.as_str(), index + 1),
    };
    Ok(Entry {
        role,
        name,
        digest: Sha256::digest(token.as_bytes()).into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const VIEWER: &str = "v1ewer-token-0123456789";
    const OPERATOR: &str = "0perator-token-0123456789";

    #[test]
    fn tokens_map_to_their_role_and_name() {
        let text = format!("# on call\n\nviewer:{VIEWER}\n  operator:alice:{OPERATOR}  \n");
        let tokens = Tokens::parse(&text, "tokens.txt").unwrap();
        assert_eq!(
            tokens.check(VIEWER),
            Some((Role::Viewer, "viewer-1".into()))
        );
        assert_eq!(
            tokens.check(OPERATOR),
            Some((Role::Operator, "alice".into()))
        );
        assert_eq!(tokens.check("v1ewer-token-012345678"), None);
        assert_eq!(tokens.check(""), None);
        assert_eq!(tokens.count(Role::Operator), 1);
        assert!(Tokens::default().check(VIEWER).is_none());
        // Entries may share a line (an environment variable).
        let env = Tokens::parse(&format!("viewer:{VIEWER} admin:{OPERATOR}"), TOKENS_ENV).unwrap();
        assert_eq!(env.check(OPERATOR).map(|(r, _)| r), Some(Role::Admin));
    }

    #[test]
    fn debug_never_shows_a_token() {
        let tokens = Tokens::parse(&format!("operator:alice:{OPERATOR}"), "t").unwrap();
        let debug = format!("{tokens:?}");
        assert!(!debug.contains(OPERATOR), "{debug}");
        assert!(debug.contains("operator:alice:<redacted>"), "{debug}");
    }

    #[test]
    fn bad_lines_say_where_and_what_without_the_token() {
        let cases = [
            ("reader:0123456789abcdefgh", "line 1: unknown role `reader`"),
            ("viewer:tiny9", "shorter than 16 characters"),
            ("0123456789abcdefgh", "expected `role:token`"),
            (
                "\nviewer::0123456789abcdefgh",
                "line 2: the name between the colons is empty",
            ),
            (
                "viewer:0123456789abcdefgh\nadmin:0123456789abcdefgh",
                "line 2: this token is given twice",
            ),
        ];
        for (text, expected) in cases {
            let message = Tokens::parse(text, "tokens.txt").unwrap_err().to_string();
            assert!(message.starts_with("tokens.txt, line "), "{message}");
            assert!(message.contains(expected), "{text:?}: {message}");
            assert!(!message.contains("0123456789abcdefgh"), "{message}");
            assert!(!message.contains("tiny9"), "{message}");
        }
    }
}
