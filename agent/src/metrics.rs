//! The agent's `/metrics` endpoint: the node's reason counters and per-member delivery counters
//! in the Prometheus (OpenMetrics) text format, the same text as `mcastlab stats -o
//! prometheus` (`mcastlab_dataplane::metrics::render`), served over plain HTTP/1.1 to whoever
//! scrapes. Each request reads the counters afresh; nothing is cached.

use std::{io, net::SocketAddr};

use mcastlab_dataplane::{Node, metrics};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{TcpListener, TcpStream},
};

/// Longest request head read; a scraper's GET is far shorter.
const MAX_REQUEST: usize = 8192;
/// The content type of the OpenMetrics text format.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Binds `address` in the namespace this thread is in (the host's, for `mcastlab agent`).
pub async fn bind(address: SocketAddr) -> io::Result<TcpListener> {
    TcpListener::bind(address).await
}

/// Serves `/metrics` of `node` on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, node: String) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let node = node.clone();
        tokio::spawn(async move {
            if let Err(err) = answer(stream, &node).await {
                tracing::debug!(node, %err, "a metrics request failed");
            }
        });
    }
}

/// Answers one request: 200 with the counters for `GET /metrics`, 404 for any other path.
async fn answer(mut stream: TcpStream, node: &str) -> io::Result<()> {
    let mut request = Vec::new();
    let mut buffer = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < MAX_REQUEST {
        let read = stream.read(&mut buffer).await?;
        if read == 0 {
            break;
        }
        request.extend_from_slice(&buffer[..read]);
    }
    let head = String::from_utf8_lossy(&request);
    let mut words = head.split_whitespace();
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let (status, content_type, body) = if method == "GET" && path == "/metrics" {
        match render(node) {
            Ok(text) => ("200 OK", CONTENT_TYPE, text),
            Err(err) => (
                "500 Internal Server Error",
                "text/plain",
                format!("reading the counters of {node}: {err}\n"),
            ),
        }
    } else {
        ("404 Not Found", "text/plain", "try /metrics\n".to_owned())
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

fn render(node: &str) -> Result<String, mcastlab_dataplane::DataplaneError> {
    metrics::render(&Node::open(node)?)
}
