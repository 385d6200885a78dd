//! Helpers shared by the binary's end-to-end tests: a server process and a bare HTTP client.

#![allow(dead_code)]

use std::process::{Command, Output};

/// Runs `aisle ARGS` to completion.
pub fn aisle(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aisle"))
        .args(args)
        .output()
        .expect("the aisle binary runs")
}

/// Runs `aisle ARGS`, which must succeed.
pub fn succeed(args: &[&str]) -> Output {
    let out = aisle(args);
    assert!(
        out.status.success(),
        "aisle {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A running `aisle` server process, killed when dropped.
pub struct Running {
    pub child: std::process::Child,
    pub addr: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `aisle ARGS` and waits for its "Serving ... on http://ADDR" line.
pub fn start_server(args: &[&str]) -> Running {
    start_server_logging(args, None)
}

/// The same, its log (stderr) written to `log` when given.
pub fn start_server_logging(args: &[&str], log: Option<&std::path::Path>) -> Running {
    use std::io::{BufRead, BufReader};
    let stderr = match log {
        Some(path) => std::fs::File::create(path).expect("the log file").into(),
        None => std::process::Stdio::inherit(),
    };
    let mut child = Command::new(env!("CARGO_BIN_EXE_aisle"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("the aisle binary starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("the server printed its address before exiting")
            .unwrap();
        if let Some(rest) = line.split("http://").nth(1)
            && line.starts_with("Serving")
        {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Running { child, addr }
}

/// One HTTP/1.1 request over a fresh connection: (status, body).
pub fn http(addr: &str, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    let (status, _, body) = http_with_head(addr, method, path, body);
    (status, body)
}

/// The same, with the answer's head (status line and headers, lower-cased).
pub fn http_with_head(
    addr: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> (u16, String, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("connect to the server");
    let body = body.unwrap_or("");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().expect("a status line");
    let (head, rest) = response.split_once("\r\n\r\n").expect("headers end");
    let head = head.to_ascii_lowercase();
    let body = if head.contains("transfer-encoding: chunked") {
        dechunk(rest)
    } else {
        rest.to_string()
    };
    (status, head, body)
}

pub fn dechunk(mut text: &str) -> String {
    let mut out = String::new();
    loop {
        let (size, rest) = text.split_once("\r\n").unwrap();
        let size = usize::from_str_radix(size.trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.push_str(&rest[..size]);
        text = &rest[size + 2..];
    }
}

pub fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}
