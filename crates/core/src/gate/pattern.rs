//! Route patterns of `GATED_ROUTES` and `ISOLATED_ROUTES`.

/// A route pattern: an exact path (`/try`) or a prefix ending in `*` (`/try*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutePattern {
    prefix: String,
    wildcard: bool,
}

impl RoutePattern {
    /// Parses `/path` or `/prefix*`. Returns `None` when the pattern does not start with `/` or
    /// has a `*` anywhere but at the end.
    pub fn parse(pattern: &str) -> Option<Self> {
        let pattern = pattern.trim();
        let (prefix, wildcard) = match pattern.strip_suffix('*') {
            Some(p) => (p, true),
            None => (pattern, false),
        };
        if !prefix.starts_with('/') || prefix.contains('*') || prefix.contains(char::is_whitespace)
        {
            return None;
        }
        Some(Self {
            prefix: prefix.to_owned(),
            wildcard,
        })
    }

    /// Whether `path` matches.
    pub fn matches(&self, path: &str) -> bool {
        if self.wildcard {
            path.starts_with(&self.prefix)
        } else {
            path == self.prefix
        }
    }
}

impl std::fmt::Display for RoutePattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.prefix)?;
        if self.wildcard {
            f.write_str("*")?;
        }
        Ok(())
    }
}
