//! PostgreSQL's binary `COPY` format, written row by row. Every field value is encoded by
//! sqlx's own `Encode` implementation (the bytes a bind parameter of that type carries), so
//! this module only frames them: the header, a field count per row, a length per field.
//! No crate for sqlx writes this framing; it is the protocol's documented format
//! ("COPY", "Binary Format", PostgreSQL manual).

use sqlx::encode::{Encode, IsNull};
use sqlx::postgres::{PgArgumentBuffer, PgConnection};
use sqlx::Postgres;

use crate::error::Result;

const SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";

/// One binary `COPY` payload under construction.
pub(crate) struct BinaryCopy {
    out: Vec<u8>,
    scratch: PgArgumentBuffer,
}

impl BinaryCopy {
    /// A payload with the header written; `bytes_hint` presizes the buffer.
    pub fn new(bytes_hint: usize) -> Self {
        let mut out = Vec::with_capacity(bytes_hint + SIGNATURE.len() + 10);
        out.extend_from_slice(SIGNATURE);
        out.extend_from_slice(&0_i32.to_be_bytes()); // flags: no OIDs
        out.extend_from_slice(&0_i32.to_be_bytes()); // no header extension
        BinaryCopy {
            out,
            scratch: PgArgumentBuffer::default(),
        }
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

    /// Sends the payload with `statement` (a `COPY … FROM STDIN (FORMAT binary)`) on `conn`;
    /// returns the rows copied.
    pub async fn send(mut self, conn: &mut PgConnection, statement: &str) -> Result<u64> {
        self.out.extend_from_slice(&(-1_i16).to_be_bytes()); // trailer
        let mut copy = conn.copy_in_raw(statement).await?;
        copy.send(self.out).await?;
        Ok(copy.finish().await?)
    }
}

/// A field's length as the format's signed 32-bit prefix (event fields are bounded far below).
fn field_len(len: usize) -> Result<i32> {
    i32::try_from(len).map_err(|_| sqlx::Error::Encode("a COPY field over 2 GiB".into()).into())
}
