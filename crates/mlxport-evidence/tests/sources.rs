//! The evidence-source rules, one by one, and `--check-urls` against a
//! local HTTP server on loopback (the test-only allowance).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use mlxport_evidence::fetch::{self, FetchOptions, MAX_HOPS};
use mlxport_evidence::sources::{check_url, parse_file, validate, UrlPolicy};

const C: &str = "ebb2754d5bd9828eb52ae061f29c2b4d2747ce27";

fn rules_of(toml_sources: &str) -> Vec<String> {
    let text = format!("schema = 1\n{toml_sources}");
    let list = parse_file(&text, "test.toml").expect("parses");
    validate(&list, UrlPolicy::default()).into_iter().map(|f| f.rule).collect()
}

fn one(fields: &str) -> Vec<String> {
    rules_of(&format!("[[source]]\nid = \"s\"\ntitle = \"A source\"\n{fields}\n"))
}

#[test]
fn the_embedded_registry_is_valid() {
    let f = validate(&mlxport_kb::kb().sources, UrlPolicy::default());
    assert!(f.is_empty(), "{f:#?}");
}

#[test]
fn each_kind_is_pinned_its_own_way() {
    // Valid examples of every kind.
    assert!(one(&format!("url = \"https://github.com/Blaizzy/mlx-vlm/blob/{C}/a.py\"\nkind = \"repository\"\ncommit = \"{C}\"")).is_empty());
    assert!(one("url = \"https://github.com/ml-explore/mlx-lm/blob/v0.32.2/mlx_lm/generate.py\"\nkind = \"package\"\nversion = \"mlx-lm 0.32.2\"").is_empty());
    assert!(one("url = \"https://ml-explore.github.io/mlx/build/html/usage/compile.html\"\nkind = \"docs\"\ndate = \"2026-11-25\"").is_empty());
    assert!(one("url = \"https://arxiv.org/abs/2309.17453v1\"\nkind = \"paper\"\nversion = \"arXiv v1\"").is_empty());
    assert!(one("url = \"https://www.opencompute.org/documents/x\"\nkind = \"spec\"\nversion = \"v1.0\"").is_empty());

    // Repository: a full commit, named by the URL.
    assert_eq!(one(&format!("url = \"https://github.com/o/r/blob/{C}/a.py\"\nkind = \"repository\"")), ["commit-pinned"]);
    assert_eq!(one(&format!("url = \"https://github.com/o/r/blob/{C}/a.py\"\nkind = \"repository\"\ncommit = \"ebb2754\"")), ["commit-pinned"]);
    assert_eq!(one(&format!("url = \"https://github.com/o/r/blob/{C}/a.py\"\nkind = \"repository\"\ncommit = \"{}\"", C.to_uppercase())), ["commit-pinned"]);
    let other = "1111111111111111111111111111111111111111";
    assert_eq!(one(&format!("url = \"https://github.com/o/r/blob/main/a.py\"\nkind = \"repository\"\ncommit = \"{other}\"")), ["commit-pinned"]);
    // Package: a version, and a URL at that version's tag or a commit.
    assert_eq!(one("url = \"https://github.com/o/mlx-lm\"\nkind = \"package\""), ["version"]);
    assert_eq!(one("url = \"https://github.com/o/mlx-lm\"\nkind = \"package\"\nversion = \"latest\""), ["version"]);
    assert_eq!(one("url = \"https://github.com/o/r/blob/main/x.py\"\nkind = \"package\"\nversion = \"mlx-lm 0.32.2\""), ["version"]);
    assert_eq!(one("url = \"https://github.com/o/r/blob/v0.31.0/x.py\"\nkind = \"package\"\nversion = \"mlx-lm 0.32.2\""), ["version"]);
    // Docs: a date, and a real one.
    assert_eq!(one("url = \"https://example.org/docs\"\nkind = \"docs\""), ["date"]);
    assert_eq!(one("url = \"https://example.org/docs\"\nkind = \"docs\"\ndate = \"2026-02-30\""), ["date"]);
    assert_eq!(one("url = \"https://example.org/docs\"\nkind = \"docs\"\ndate = \"25/11/2026\""), ["date"]);
    // Paper: a version, the one the arXiv URL names.
    assert_eq!(one("url = \"https://arxiv.org/abs/2309.17453v1\"\nkind = \"paper\""), ["version"]);
    assert_eq!(one("url = \"https://arxiv.org/abs/2309.17453v2\"\nkind = \"paper\"\nversion = \"arXiv v1\""), ["version"]);
    assert_eq!(one("url = \"https://arxiv.org/abs/2309.17453\"\nkind = \"paper\"\nversion = \"arXiv v1\""), ["version"]);
    // Spec: a version or a date.
    assert_eq!(one("url = \"https://example.org/spec.pdf\"\nkind = \"spec\""), ["version"]);
    // Kind: present and known.
    assert_eq!(one("url = \"https://example.org/a\"\nversion = \"x 1.0\""), ["kind"]);
    assert_eq!(one("url = \"https://example.org/a\"\nkind = \"blog\"\nversion = \"x 1.0\""), ["kind"]);
}

#[test]
fn urls_must_be_public_https_without_credentials() {
    let docs = |url: &str| one(&format!("url = \"{url}\"\nkind = \"docs\"\ndate = \"2026-11-25\""));
    assert_eq!(docs("http://example.org/a"), ["https-only"]);
    assert_eq!(docs("ftp://example.org/a"), ["https-only"]);
    assert_eq!(docs("https://user:secret@example.org/a"), ["no-credentials"]);
    assert_eq!(docs("https://token@example.org/a"), ["no-credentials"]);
    assert_eq!(docs("https://example.org/a?access_token=abc"), ["no-credentials"]);
    assert_eq!(docs("https://example.org/a?X-Amz-Signature=abc"), ["no-credentials"]);
    for host in [
        "localhost",
        "127.0.0.1",
        "[::1]",
        "10.1.2.3",
        "172.16.0.9",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "[fd00::1]",
        "[fe80::1]",
        "[::ffff:10.0.0.1]",
        "printer.local",
        "git.corp",
        "intranet",
        "app.localhost",
        "db.internal",
    ] {
        assert_eq!(docs(&format!("https://{host}/a")), ["public-host"], "{host}");
    }
    assert_eq!(docs("https://exa mple.org/a"), ["url-syntax"]);
    assert!(docs("https://93.184.215.14/a").is_empty());
    // The loopback allowance accepts loopback only.
    let test = UrlPolicy { allow_loopback_http: true };
    assert!(check_url("http://127.0.0.1:8080/x", test).is_ok());
    assert!(check_url("http://10.0.0.1/x", test).is_err());
    assert!(check_url("http://127.0.0.1:8080/x", UrlPolicy::default()).is_err());
}

#[test]
fn ids_are_unique_and_a_broken_file_is_named() {
    let two = "[[source]]\nid = \"a\"\ntitle = \"t\"\nurl = \"https://example.org/x\"\nkind = \"docs\"\ndate = \"2026-01-01\"\n";
    assert_eq!(rules_of(&format!("{two}{two}")), ["unique-id"]);
    let e = parse_file("schema = 1\n[[source]]\nid = 3\n", "bad/sources.toml").unwrap_err().to_string();
    assert!(e.starts_with("bad/sources.toml"), "{e}");
}

/// A loopback server answering each request from a routing function; it
/// serves until the test ends.
fn serve(route: fn(&str, u16) -> String) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let mut buf = [0u8; 4096];
            let mut req = Vec::new();
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            let text = String::from_utf8_lossy(&req);
            let path = text.split_whitespace().nth(1).unwrap_or("/").to_string();
            let _ = s.write_all(route(&path, port).as_bytes());
        }
    });
    port
}

fn route(path: &str, port: u16) -> String {
    let redirect = |to: String| format!("HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    match path {
        "/ok" => "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok".into(),
        "/gone" => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".into(),
        "/hop1" => redirect(format!("http://127.0.0.1:{port}/hop2")),
        "/hop2" => redirect("/ok".into()),
        "/to-private" => redirect("http://10.0.0.7/admin".into()),
        "/to-metadata" => redirect("http://169.254.169.254/latest/meta-data/".into()),
        "/to-creds" => redirect(format!("http://user:pw@127.0.0.1:{port}/ok")),
        "/to-ftp" => redirect("ftp://example.org/file".into()),
        "/no-location" => "HTTP/1.1 301 Moved\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".into(),
        "/loop" => redirect("/loop".into()),
        _ => "HTTP/1.1 500 Oops\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".into(),
    }
}

#[test]
fn check_urls_follows_only_revalidated_redirects() {
    let port = serve(route);
    let opts = FetchOptions { timeout: Duration::from_secs(10), policy: UrlPolicy { allow_loopback_http: true } };
    let u = |p: &str| format!("http://127.0.0.1:{port}{p}");

    let r = fetch::check(&u("/ok"), &opts);
    assert!(r.ok && r.status == Some(200), "{r:?}");

    let r = fetch::check(&u("/hop1"), &opts);
    assert!(r.ok, "{r:?}");
    assert_eq!(r.hops, vec![u("/hop1"), u("/hop2"), u("/ok")]);

    let r = fetch::check(&u("/gone"), &opts);
    assert!(!r.ok && r.status == Some(404), "{r:?}");

    for (p, rule) in [("/to-private", "public-host"), ("/to-metadata", "public-host"), ("/to-creds", "no-credentials"), ("/to-ftp", "https-only")] {
        let r = fetch::check(&u(p), &opts);
        assert!(!r.ok, "{p}: {r:?}");
        let e = r.error.unwrap();
        assert!(e.contains("redirect") && e.contains(rule), "{p}: {e}");
        assert_eq!(r.hops.len(), 1, "{p}: the refused target was never requested");
    }

    let r = fetch::check(&u("/no-location"), &opts);
    assert!(!r.ok && r.error.unwrap().contains("Location"));

    let r = fetch::check(&u("/loop"), &opts);
    assert!(!r.ok && r.error.as_deref().unwrap().contains("redirects"), "{r:?}");
    assert_eq!(r.hops.len(), MAX_HOPS + 1);

    // Without the test allowance, loopback and plain http are refused
    // before any request.
    let r = fetch::check(&u("/ok"), &FetchOptions { timeout: Duration::from_secs(5), policy: UrlPolicy::default() });
    assert!(!r.ok && r.hops.is_empty(), "{r:?}");
}
