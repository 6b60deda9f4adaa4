//! PostgreSQL's binary `COPY` format, written row by row. Every field value is encoded by
//! sqlx's own `Encode` implementation (the bytes a bind parameter of that type carries), so
//! this module only frames them: the header, a field count per row, a length per field, and
//! streams them to the server in bounded chunks as the rows are encoded.
//! No crate for sqlx writes this framing; it is the protocol's documented format
//! ("COPY", "Binary Format", PostgreSQL manual).

use sqlx::encode::{Encode, IsNull};
use sqlx::postgres::{PgArgumentBuffer, PgConnection, PgCopyIn};
use sqlx::Postgres;

use crate::error::Result;

const SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";

/// Bytes buffered before they go to the server as one `CopyData` message. The payload is
/// streamed while it is encoded, never held whole: the buffer (and sqlx's write buffer, which
/// copies it) stays this size and warm in cache, and the server works on the first rows while
/// the next are encoded. One `CopyData` of the whole batch (sqlx sends a payload as one
/// message) made a 50,000-event batch ~10 MB in the consumer, again in sqlx's buffer and again
/// in the server's message buffer before the server could read its first row.
const CHUNK_BYTES: usize = 256 * 1024;

/// One binary `COPY … FROM STDIN (FORMAT binary)` in progress on a connection.
pub(crate) struct BinaryCopy<'c> {
    copy: PgCopyIn<&'c mut PgConnection>,
    out: Vec<u8>,
    scratch: PgArgumentBuffer,
}

impl<'c> BinaryCopy<'c> {
    /// Starts `statement` on `conn` and writes the format's header.
    async fn start(conn: &'c mut PgConnection, statement: &str) -> Result<Self> {
        let copy = conn.copy_in_raw(statement).await?;
        let mut out = Vec::with_capacity(CHUNK_BYTES + 4096);
        out.extend_from_slice(SIGNATURE);
        out.extend_from_slice(&0_i32.to_be_bytes()); // flags: no OIDs
        out.extend_from_slice(&0_i32.to_be_bytes()); // no header extension
        Ok(BinaryCopy {
            copy,
            out,
            scratch: PgArgumentBuffer::default(),
        })
    }

    /// The whole `COPY`: every row of `rows` encoded by `encode` (which starts the row with
    /// [`BinaryCopy::row`] and appends its fields) and streamed as it goes. A row that fails to
    /// encode aborts the `COPY` and is the error; so is a constraint the rows break.
    pub async fn send_rows<T>(
        conn: &'c mut PgConnection,
        statement: &str,
        rows: &[T],
        mut encode: impl FnMut(&mut Self, &T) -> Result<()>,
    ) -> Result<u64> {
        let mut copy = Self::start(conn, statement).await?;
        for r in rows {
            if let Err(e) = encode(&mut copy, r) {
                copy.abort("a row did not encode").await?;
                return Err(e);
            }
            copy.end_row().await?;
        }
        copy.finish().await
    }

    /// Starts a row of `fields` fields.
    pub fn row(&mut self, fields: i16) {
        self.out.extend_from_slice(&fields.to_be_bytes());
    }

    /// Appends one field, encoded as a bind parameter of its type would be (`None`: NULL).
    pub fn field<'q, T: Encode<'q, Postgres>>(&mut self, value: &T) -> Result<()> {
        self.scratch.clear();
        let null = value
            .encode_by_ref(&mut self.scratch)
            .map_err(sqlx::Error::Encode)?;
        match null {
            IsNull::Yes => self.out.extend_from_slice(&(-1_i32).to_be_bytes()),
            IsNull::No => {
                let len = field_len(self.scratch.len())?;
                self.out.extend_from_slice(&len.to_be_bytes());
                self.out.extend_from_slice(&self.scratch);
            }
        }
        Ok(())
    }

    /// Appends a `text` field (its binary form is the UTF-8 bytes; no encoder needed).
    pub fn text(&mut self, value: &str) -> Result<()> {
        let len = field_len(value.len())?;
        self.out.extend_from_slice(&len.to_be_bytes());
        self.out.extend_from_slice(value.as_bytes());
        Ok(())
    }

    /// Appends a `jsonb` field from JSON text (binary jsonb is a version byte, then the text).
    pub fn jsonb(&mut self, text: &str) -> Result<()> {
        let len = field_len(text.len() + 1)?;
        self.out.extend_from_slice(&len.to_be_bytes());
        self.out.push(1);
        self.out.extend_from_slice(text.as_bytes());
        Ok(())
    }

    /// Sends what is buffered once it reaches [`CHUNK_BYTES`]; call it between rows.
    async fn end_row(&mut self) -> Result<()> {
        if self.out.len() >= CHUNK_BYTES {
            self.copy.send(self.out.as_slice()).await?;
            self.out.clear();
        }
        Ok(())
    }

    /// Sends the rest and the trailer and completes the `COPY`; returns the rows copied. A
    /// constraint the rows break (a taken dedupe key) is this call's error.
    async fn finish(mut self) -> Result<u64> {
        self.out.extend_from_slice(&(-1_i16).to_be_bytes()); // trailer
        self.copy.send(self.out.as_slice()).await?;
        Ok(self.copy.finish().await?)
    }

    /// Abandons the `COPY` (the server discards what it received), e.g. after a row failed
    /// to encode; `Ok` once the server has acknowledged.
    async fn abort(self, why: &str) -> Result<()> {
        Ok(self.copy.abort(why).await?)
    }
}

/// A field's length as the format's signed 32-bit prefix (event fields are bounded far below).
fn field_len(len: usize) -> Result<i32> {
    i32::try_from(len).map_err(|_| sqlx::Error::Encode("a COPY field over 2 GiB".into()).into())
}
