//! Fast, allocation-free formatting of the generator's CSV fields, and the item and user
//! files. Numbers are written by hand because the event file is hundreds of megabytes of
//! integers and `format!` would dominate the run time.

use std::io::{self, Write};

use super::model::ShopModel;

/// Appends the decimal digits of `value`.
#[inline]
pub(crate) fn push_u64(out: &mut Vec<u8>, mut value: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[start..]);
}

/// Appends `value` in decimal, with a leading `-` when negative.
#[inline]
pub(crate) fn push_i64(out: &mut Vec<u8>, value: i64) {
    if value < 0 {
        out.push(b'-');
    }
    push_u64(out, value.unsigned_abs());
}

/// Appends an amount of cents as a decimal number with exactly two decimals (`1234` →
/// `12.34`).
#[inline]
pub(crate) fn push_cents(out: &mut Vec<u8>, cents: u64) {
    push_u64(out, cents / 100);
    out.push(b'.');
    out.push(b'0' + (cents / 10 % 10) as u8);
    out.push(b'0' + (cents % 10) as u8);
}

/// Appends `text` as one CSV field, quoted (with inner quotes doubled) when it contains a
/// comma, a quote or a line break.
pub(crate) fn push_field(out: &mut Vec<u8>, text: &str) {
    if text.contains([',', '"', '\n', '\r']) {
        out.push(b'"');
        for byte in text.bytes() {
            if byte == b'"' {
                out.push(b'"');
            }
            out.push(byte);
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(text.as_bytes());
    }
}

/// Appends a Unix time as RFC 3339 UTC (`2024-01-01T00:00:00Z`). The generator's times are
/// validated to be in jiff's range when the config is checked.
fn push_rfc3339(out: &mut Vec<u8>, seconds: i64) -> io::Result<()> {
    let timestamp = jiff::Timestamp::from_second(seconds)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    write!(out, "{timestamp}")
}

/// Writes `item_id,title,categories,price,available,created_at`.
pub(crate) fn write_items<W: Write>(model: &ShopModel, mut out: W) -> io::Result<()> {
    let mut line = Vec::with_capacity(256);
    out.write_all(b"item_id,title,categories,price,available,created_at\n")?;
    for (index, item) in model.items().iter().enumerate() {
        line.clear();
        line.push(b'i');
        push_u64(&mut line, index as u64);
        line.push(b',');
        push_field(&mut line, &item.title);
        line.push(b',');
        let names: Vec<&str> = item.categories().map(|c| model.category_name(c)).collect();
        push_field(&mut line, &names.join("|"));
        line.push(b',');
        push_cents(&mut line, item.price_cents);
        line.extend_from_slice(if item.available {
            b",true,"
        } else {
            b",false,"
        });
        push_rfc3339(&mut line, item.created_at)?;
        line.push(b'\n');
        out.write_all(&line)?;
    }
    out.flush()
}

/// Writes `user_id,country,created_at`.
pub(crate) fn write_users<W: Write>(model: &ShopModel, mut out: W) -> io::Result<()> {
    let mut line = Vec::with_capacity(64);
    out.write_all(b"user_id,country,created_at\n")?;
    for (index, user) in model.users().iter().enumerate() {
        line.clear();
        line.push(b'u');
        push_u64(&mut line, index as u64);
        line.push(b',');
        push_field(&mut line, user.country);
        line.push(b',');
        push_rfc3339(&mut line, user.created_at)?;
        line.push(b'\n');
        out.write_all(&line)?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_fields_format_like_std() {
        let mut out = Vec::new();
        for v in [0u64, 7, 10, 99, 1_000_000, u64::MAX] {
            out.clear();
            push_u64(&mut out, v);
            assert_eq!(out, v.to_string().as_bytes());
        }
        for v in [0i64, -1, 42, i64::MIN, i64::MAX] {
            out.clear();
            push_i64(&mut out, v);
            assert_eq!(out, v.to_string().as_bytes());
        }
        for (cents, text) in [
            (0, "0.00"),
            (5, "0.05"),
            (1299, "12.99"),
            (100_000, "1000.00"),
        ] {
            out.clear();
            push_cents(&mut out, cents);
            assert_eq!(out, text.as_bytes());
        }
        out.clear();
        push_field(&mut out, "12\" Skillet, Set of 2");
        assert_eq!(out, b"\"12\"\" Skillet, Set of 2\"");
        out.clear();
        push_field(&mut out, "Plain Title");
        assert_eq!(out, b"Plain Title");
        out.clear();
        push_rfc3339(&mut out, 1_704_067_200).unwrap();
        assert_eq!(out, b"2024-01-01T00:00:00Z");
    }
}
