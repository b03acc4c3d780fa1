//! A streaming reader of `multipart/form-data` request bodies (RFC 7578), for the upload form:
//! small fields are read whole up to a bound, and a file part is handed on as a stream, so an
//! upload is never held in memory (the API streams it to a temporary file with its own limit).

use axum::body::{Body, BodyDataStream, Bytes};
use futures::{Stream, StreamExt};

/// Largest headers block of one part.
const MAX_HEADERS: usize = 16 * 1024;

/// Why a body could not be read.
#[derive(Debug)]
pub struct Error(pub String);

fn truncated() -> Error {
    Error("the upload ended early; send the form again".into())
}

/// The boundary of a `multipart/form-data` content type, if it is one.
pub fn boundary(content_type: &str) -> Option<String> {
    let mut parts = content_type.split(';');
    if !parts
        .next()?
        .trim()
        .eq_ignore_ascii_case("multipart/form-data")
    {
        return None;
    }
    parts.find_map(|p| {
        let (k, v) = p.split_once('=')?;
        if !k.trim().eq_ignore_ascii_case("boundary") {
            return None;
        }
        let v = v.trim().trim_matches('"');
        (!v.is_empty() && v.len() <= 70).then(|| v.to_string())
    })
}

/// One part's headers.
#[derive(Debug, Default)]
pub struct Part {
    /// The form field's name.
    pub name: String,
    /// The file's name (file inputs only; empty when no file was chosen).
    pub filename: Option<String>,
}

/// A multipart body being read, part by part.
pub struct Multipart {
    stream: BodyDataStream,
    buf: Vec<u8>,
    /// `\r\n--boundary`.
    delim: Vec<u8>,
    done: bool,
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let first = *needle.first()?;
    let mut from = 0;
    while from + needle.len() <= hay.len() {
        let i = from + hay[from..].iter().position(|b| *b == first)?;
        if hay.len() < i + needle.len() {
            return None;
        }
        if &hay[i..i + needle.len()] == needle {
            return Some(i);
        }
        from = i + 1;
    }
    None
}

impl Multipart {
    /// Reads `body`, whose parts are separated by `boundary`.
    pub fn new(body: Body, boundary: &str) -> Self {
        Self {
            stream: body.into_data_stream(),
            // The first delimiter may open the body: a leading CRLF makes it look like the rest.
            buf: b"\r\n".to_vec(),
            delim: format!("\r\n--{boundary}").into_bytes(),
            done: false,
        }
    }

    /// Reads one more piece of the body; false at its end.
    async fn fill(&mut self) -> Result<bool, Error> {
        match self.stream.next().await {
            Some(Ok(c)) => {
                self.buf.extend_from_slice(&c);
                Ok(true)
            }
            Some(Err(e)) => Err(Error(format!("the upload was interrupted: {e}"))),
            None => Ok(false),
        }
    }

    /// Moves to the next part (skipping the rest of the current one); None after the last.
    pub async fn next_part(&mut self) -> Result<Option<Part>, Error> {
        if self.done {
            return Ok(None);
        }
        loop {
            if let Some(i) = find(&self.buf, &self.delim) {
                self.buf.drain(..i + self.delim.len());
                break;
            }
            let keep = self.delim.len() - 1;
            if self.buf.len() > keep {
                self.buf.drain(..self.buf.len() - keep);
            }
            if !self.fill().await? {
                return Err(truncated());
            }
        }
        while self.buf.len() < 2 {
            if !self.fill().await? {
                return Err(truncated());
            }
        }
        if self.buf.starts_with(b"--") {
            self.done = true;
            return Ok(None);
        }
        let end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i;
            }
            if self.buf.len() > MAX_HEADERS {
                return Err(Error("a form field's headers are too long".into()));
            }
            if !self.fill().await? {
                return Err(truncated());
            }
        };
        let head = String::from_utf8_lossy(&self.buf[..end]).into_owned();
        self.buf.drain(..end + 4);
        let mut part = Part::default();
        for line in head.split("\r\n") {
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            if !k.trim().eq_ignore_ascii_case("content-disposition") {
                continue;
            }
            for p in v.split(';').skip(1) {
                let Some((k, v)) = p.split_once('=') else {
                    continue;
                };
                let v = v.trim();
                let v = v
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or(v)
                    .to_string();
                match k.trim().to_ascii_lowercase().as_str() {
                    "name" => part.name = v,
                    "filename" => part.filename = Some(v),
                    _ => {}
                }
            }
        }
        Ok(Some(part))
    }

    /// The next piece of the current part's content; None at its end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, Error> {
        loop {
            if let Some(i) = find(&self.buf, &self.delim) {
                if i == 0 {
                    return Ok(None);
                }
                let out: Vec<u8> = self.buf.drain(..i).collect();
                return Ok(Some(Bytes::from(out)));
            }
            // What may be the start of the delimiter stays until more arrives.
            let keep = self.delim.len() - 1;
            if self.buf.len() > keep {
                let out: Vec<u8> = self.buf.drain(..self.buf.len() - keep).collect();
                return Ok(Some(Bytes::from(out)));
            }
            if !self.fill().await? {
                return Err(truncated());
            }
        }
    }

    /// The current part's content as text, refused beyond `limit` bytes.
    pub async fn text(&mut self, limit: usize) -> Result<String, Error> {
        let mut out = Vec::new();
        while let Some(c) = self.chunk().await? {
            out.extend_from_slice(&c);
            if out.len() > limit {
                return Err(Error("a form field is too long".into()));
            }
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    /// The current part's content as a stream (a read error ends it with that error).
    pub fn into_stream(self) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send {
        futures::stream::unfold(Some(self), |state| async move {
            let mut m = state?;
            match m.chunk().await {
                Ok(Some(b)) => Some((Ok(b), Some(m))),
                Ok(None) => None,
                Err(e) => Some((Err(std::io::Error::other(e.0)), None)),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(chunks: Vec<&'static [u8]>) -> Body {
        Body::from_stream(futures::stream::iter(
            chunks
                .into_iter()
                .map(|c| Ok::<_, std::io::Error>(Bytes::from_static(c))),
        ))
    }

    #[tokio::test]
    async fn reads_fields_and_a_file_split_anywhere() {
        let raw: &[u8] = b"--XyZ\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\ntok\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\nContent-Type: text/csv\r\n\r\nUser ID,Email\r\n--Xy,x\r\n--XyZ--\r\n";
        for split in 1..raw.len() {
            let (a, b) = raw.split_at(split);
            let a: &'static [u8] = Box::leak(a.to_vec().into_boxed_slice());
            let b: &'static [u8] = Box::leak(b.to_vec().into_boxed_slice());
            let mut m = Multipart::new(body(vec![a, b]), "XyZ");
            let p = m.next_part().await.unwrap().unwrap();
            assert_eq!(p.name, "csrf");
            assert_eq!(m.text(100).await.unwrap(), "tok");
            let p = m.next_part().await.unwrap().unwrap();
            assert_eq!(p.name, "file");
            assert_eq!(p.filename.as_deref(), Some("a.csv"));
            let mut s = Box::pin(m.into_stream());
            let mut got = Vec::new();
            while let Some(c) = s.next().await {
                got.extend_from_slice(&c.unwrap());
            }
            assert_eq!(got, b"User ID,Email\r\n--Xy,x", "split at {split}");
        }
    }

    #[tokio::test]
    async fn a_cut_body_is_an_error() {
        let mut m = Multipart::new(
            body(vec![
                b"--b\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nabc",
            ]),
            "b",
        );
        m.next_part().await.unwrap().unwrap();
        assert!(m.text(100).await.is_err());
    }

    #[test]
    fn boundary_of_content_type() {
        assert_eq!(
            boundary("multipart/form-data; boundary=----WebKitFormBoundaryAbC").as_deref(),
            Some("----WebKitFormBoundaryAbC")
        );
        assert_eq!(boundary("application/x-www-form-urlencoded"), None);
    }
}
