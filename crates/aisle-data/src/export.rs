//! Writing events back out in Aisle's own layout:
//! `user_id,item_id,type,value,timestamp,basket_id,quantity,price`, which reads back as the
//! same events (guest lines with an empty user, returns as `return` rows).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use flate2::Compression;
use flate2::write::GzEncoder;

use crate::dataset::{Dataset, GUEST, NO_BASKET};
use crate::error::{DataError, Result};

/// Writes the dataset's kept events (guest lines included) to `path` as CSV in the order of
/// the source file (gzip-compressed when the name ends in `.gz`). Timestamps are Unix
/// seconds; a missing value, basket or price is an empty field.
pub fn write_events(dataset: &Dataset, path: &Path) -> Result<u64> {
    let io_error = |source| DataError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::create(path).map_err(io_error)?;
    let sink = if path.extension().is_some_and(|e| e == "gz") {
        Sink::Gzip(GzEncoder::new(file, Compression::fast()))
    } else {
        Sink::Plain(file)
    };
    let mut writer = csv::Writer::from_writer(BufWriter::with_capacity(1 << 20, sink));
    let csv_error = |e: csv::Error| io_error(std::io::Error::other(e));
    writer
        .write_record([
            "user_id",
            "item_id",
            "type",
            "value",
            "timestamp",
            "basket_id",
            "quantity",
            "price",
        ])
        .map_err(csv_error)?;
    let mut events: Vec<&crate::dataset::Event> =
        dataset.events.iter().chain(&dataset.guest_events).collect();
    events.sort_unstable_by_key(|e| e.line);
    let (mut value, mut quantity, mut price) = (String::new(), String::new(), String::new());
    let mut timestamp = itoa_buffer();
    let number = |text: &mut String, x: f32| {
        use std::fmt::Write as _;
        text.clear();
        if !x.is_nan() {
            let _ = write!(text, "{x}");
        }
    };
    for e in &events {
        number(&mut value, e.value);
        number(&mut quantity, e.quantity);
        number(&mut price, e.price);
        let user = if e.user == GUEST {
            ""
        } else {
            dataset.users.id(e.user)
        };
        let basket = if e.basket == NO_BASKET {
            ""
        } else {
            dataset.baskets.id(e.basket)
        };
        writer
            .write_record([
                user,
                dataset.items.id(e.item),
                dataset.event_types.name(e.kind),
                &value,
                format_i64(&mut timestamp, e.timestamp),
                basket,
                &quantity,
                &price,
            ])
            .map_err(csv_error)?;
    }
    let inner = writer
        .into_inner()
        .map_err(|e| io_error(std::io::Error::other(e.to_string())))?;
    let sink = inner.into_inner().map_err(|e| io_error(e.into_error()))?;
    sink.finish().map_err(io_error)?;
    Ok(events.len() as u64)
}

/// A plain or gzip output whose end (the gzip trailer, the final flush) is checked.
enum Sink {
    Plain(File),
    Gzip(GzEncoder<File>),
}

impl Sink {
    fn finish(self) -> std::io::Result<()> {
        match self {
            Sink::Plain(mut file) => file.flush(),
            Sink::Gzip(encoder) => encoder.finish()?.flush(),
        }
    }
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Sink::Plain(f) => f.write(buf),
            Sink::Gzip(g) => g.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Sink::Plain(f) => f.flush(),
            Sink::Gzip(g) => g.flush(),
        }
    }
}

fn itoa_buffer() -> String {
    String::with_capacity(24)
}

fn format_i64(buffer: &mut String, n: i64) -> &str {
    use std::fmt::Write as _;
    buffer.clear();
    let _ = write!(buffer, "{n}");
    buffer
}
