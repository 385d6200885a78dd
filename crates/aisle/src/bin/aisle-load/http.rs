//! A minimal HTTP/1.1 client over one keep-alive connection: enough to send a request and
//! read its answer's status and body (by `Content-Length` or chunked), nothing more.

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// A request to send.
#[derive(Debug)]
pub struct Request {
    method: &'static str,
    path: String,
    body: Option<String>,
}

impl Request {
    pub fn get(path: String) -> Request {
        Request {
            method: "GET",
            path,
            body: None,
        }
    }

    /// A request with a JSON body.
    pub fn with_body(method: &'static str, path: String, body: String) -> Request {
        Request {
            method,
            path,
            body: Some(body),
        }
    }
}

/// One connection, opened on first use and again after a failure.
#[derive(Debug)]
pub struct Connection {
    host: String,
    stream: Option<BufReader<TcpStream>>,
}

impl Connection {
    /// A connection to `url` (`http://host:port`, a path after it ignored).
    pub fn new(url: &str) -> Connection {
        let host = url.trim_start_matches("http://");
        let host = host.split('/').next().unwrap_or(host).to_string();
        Connection { host, stream: None }
    }

    /// Sends `request` and reads the whole answer: its status, or 0 when the connection
    /// failed (it is opened again for the next request).
    pub async fn send(&mut self, request: &Request) -> u16 {
        match self.exchange(request).await {
            Ok(status) => status,
            Err(_) => {
                self.stream = None;
                0
            }
        }
    }

    async fn exchange(&mut self, request: &Request) -> std::io::Result<u16> {
        if self.stream.is_none() {
            let stream = TcpStream::connect(&self.host).await?;
            stream.set_nodelay(true)?;
            self.stream = Some(BufReader::new(stream));
        }
        let stream = self.stream.as_mut().expect("connected above");
        let body = request.body.as_deref().unwrap_or("");
        let content_type = if request.body.is_some() {
            "Content-Type: application/json\r\n"
        } else {
            ""
        };
        let message = format!(
            "{} {} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n{content_type}\r\n{body}",
            request.method,
            request.path,
            self.host,
            body.len()
        );
        stream.get_mut().write_all(message.as_bytes()).await?;
        let mut line = String::new();
        read_line(stream, &mut line).await?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| invalid("no status line"))?;
        let mut length = 0usize;
        let mut chunked = false;
        loop {
            read_line(stream, &mut line).await?;
            if line == "\r\n" {
                break;
            }
            let (name, value) = line.split_once(':').unwrap_or((&line, ""));
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = value.parse().map_err(|_| invalid("bad content-length"))?;
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.to_ascii_lowercase().contains("chunked");
            }
        }
        if chunked {
            loop {
                read_line(stream, &mut line).await?;
                let size = usize::from_str_radix(line.trim(), 16)
                    .map_err(|_| invalid("bad chunk size"))?;
                skip(stream, size + 2).await?;
                if size == 0 {
                    break;
                }
            }
        } else {
            skip(stream, length).await?;
        }
        Ok(status)
    }
}

/// Reads one line (with its `\r\n`) into `line`; a closed connection is an error.
async fn read_line(stream: &mut BufReader<TcpStream>, line: &mut String) -> std::io::Result<()> {
    line.clear();
    if stream.read_line(line).await? == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    Ok(())
}

async fn skip(stream: &mut BufReader<TcpStream>, n: usize) -> std::io::Result<()> {
    let copied = tokio::io::copy(&mut stream.take(n as u64), &mut tokio::io::sink()).await?;
    if copied < n as u64 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    Ok(())
}

fn invalid(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string())
}
