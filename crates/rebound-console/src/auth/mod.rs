//! Who is asking, and what they may do: tokens ([`tokens`]) traded once for a browser session
//! ([`session`]), and the one check every route goes through ([`guard`]).

pub mod guard;
pub mod session;
pub mod tokens;
