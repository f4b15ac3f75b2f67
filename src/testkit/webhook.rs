//! A minimal HTTP/1.1 client for signed Twilio webhooks against our own server (tests, simulator,
//! load tester). Deliberately tiny: one request per connection, `Connection: close`.

use std::collections::BTreeMap;

use anyhow::{Context as _, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::transport::twilio::signature;

/// A response: status and body.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub body: String,
    /// Header names lower-cased, in order.
    pub headers: Vec<(String, String)>,
}

impl HttpResponse {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
    }
}

fn form_encode(params: &[(String, String)]) -> String {
    params
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                url::form_urlencoded::byte_serialize(k.as_bytes()).collect::<String>(),
                url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Send a request to `base` (http://host:port) + `path`.
///
/// # Errors
/// Connection failures and unparsable responses.
pub async fn request(
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &str,
) -> anyhow::Result<HttpResponse> {
    let url = url::Url::parse(base).context("base URL")?;
    let host = url.host_str().context("host")?;
    let port = url.port_or_known_default().context("port")?;
    let mut stream = TcpStream::connect((host, port)).await.context("connect")?;
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    stream.write_all(req.as_bytes()).await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    let text = String::from_utf8_lossy(&raw);
    let (head, rest) = text.split_once("\r\n\r\n").context("no header end")?;
    let status: u16 = head.split_whitespace().nth(1).context("no status")?.parse()?;
    let chunked = head.to_ascii_lowercase().contains("transfer-encoding: chunked");
    let body = if chunked { dechunk(rest)? } else { rest.to_owned() };
    let headers = head
        .lines()
        .skip(1)
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Ok(HttpResponse { status, body, headers })
}

fn dechunk(mut s: &str) -> anyhow::Result<String> {
    let mut out = String::new();
    loop {
        let (size, rest) = s.split_once("\r\n").context("chunk size")?;
        let n = usize::from_str_radix(size.trim(), 16)?;
        if n == 0 {
            return Ok(out);
        }
        if rest.len() < n {
            bail!("short chunk");
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
}

/// POST a Twilio-style form webhook signed as Twilio would sign it for `public_base` + `path`.
/// `auth_token` None sends no signature.
///
/// # Errors
/// As [`request`].
pub async fn post_signed(
    server: &str,
    public_base: &str,
    path: &str,
    params: &BTreeMap<String, String>,
    auth_token: Option<&[u8]>,
) -> anyhow::Result<HttpResponse> {
    let pairs: Vec<(String, String)> = params.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let mut headers = vec![("Content-Type", "application/x-www-form-urlencoded".to_owned())];
    if let Some(token) = auth_token {
        let url = format!("{}{}", public_base.trim_end_matches('/'), path);
        headers.push(("X-Twilio-Signature", signature::compute(token, &url, &pairs)));
    }
    request(server, "POST", path, &headers, &form_encode(&pairs)).await
}

/// Pull an attribute value out of TwiML (`<Parameter name="token" value="…"/>` etc.).
pub fn twiml_attr(twiml: &str, element_prefix: &str, attr: &str) -> Option<String> {
    let at = twiml.find(element_prefix)?;
    let rest = &twiml[at..];
    let key = format!("{attr}=\"");
    let start = rest.find(&key)? + key.len();
    let end = rest[start..].find('"')?;
    Some(unescape(&rest[start..start + end]))
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}
