//! An error with every cause, the way people read it: `outer: inner: ...`.

/// The error's message and each of its sources', joined with `: ` (a
/// source whose message the text already ends with is said once).
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.ends_with(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    #[derive(Debug)]
    struct Outer(std::io::Error);
    impl std::fmt::Display for Outer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("reading port.json")
        }
    }
    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn causes_are_joined_once() {
        let e = Outer(std::io::Error::other("permission denied"));
        assert_eq!(super::chain(&e), "reading port.json: permission denied");
        assert_eq!(super::chain(&std::io::Error::other("x")), "x");
    }
}
