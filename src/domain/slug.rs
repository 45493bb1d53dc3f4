//! URL-safe names: lowercase ASCII letters and digits in words joined by single hyphens.

/// The longest slug the service makes or accepts.
pub const MAX_SLUG: usize = 200;

/// A slug made from a title (empty when the title has no ASCII letter or digit).
pub fn slugify(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let mut out = out.trim_end_matches('-').to_owned();
    if out.len() > MAX_SLUG {
        out.truncate(MAX_SLUG);
        out = out.trim_end_matches('-').to_owned();
    }
    out
}

/// Whether a client's slug is well formed.
pub fn is_slug(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_SLUG && slugify(s) == s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_become_slugs() {
        assert_eq!(slugify("Rust: Zero to Production!"), "rust-zero-to-production");
        assert_eq!(slugify("  --Ünïcode only ☃  "), "n-code-only");
        assert_eq!(slugify("☃"), "");
        assert_eq!(slugify(&"a ".repeat(300)).len(), MAX_SLUG - 1);
    }

    #[test]
    fn only_canonical_slugs_are_accepted() {
        assert!(is_slug("rust-101"));
        for bad in ["", "Rust", "rust--101", "-rust", "rust-", "rust 101", "rüst"] {
            assert!(!is_slug(bad), "{bad}");
        }
    }
}
