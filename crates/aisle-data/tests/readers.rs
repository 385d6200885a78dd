//! Reading and cleaning real-world files: the dirty-shop fixture with exact counts, every
//! kind of bad input named in the foundation issue, the MovieLens files, and property tests.

use std::io::Write;
use std::path::{Path, PathBuf};

use aisle_data::{
    ByteCounter, CleaningOptions, DataError, Dataset, DropReason, Format, ReadOptions, Weighting,
};
use proptest::prelude::*;

fn load(path: &Path, read: &ReadOptions, clean: &CleaningOptions) -> aisle_data::Result<Dataset> {
    Dataset::load(path, read, clean, &ByteCounter::default(), None)
}

fn load_default(path: &Path) -> aisle_data::Result<Dataset> {
    load(path, &ReadOptions::default(), &CleaningOptions::default())
}

fn temp_file(content: &[u8]) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(content).unwrap();
    f.flush().unwrap();
    f
}

fn gzip(content: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(content).unwrap();
    encoder.finish().unwrap()
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// `../shared/data` from the workspace root, if present.
fn shared_data(relative: &str) -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(relative);
    if path.exists() {
        Some(path)
    } else {
        eprintln!("skipping: {} is not available", path.display());
        None
    }
}

#[test]
fn dirty_shop_file_has_exact_report_counts() {
    let clean = CleaningOptions {
        rating_scale: Some((1.0, 5.0)),
        ..Default::default()
    };
    let d = load(&fixture("dirty_shop.csv"), &ReadOptions::default(), &clean).unwrap();
    let r = &d.report;
    assert_eq!(r.rows, 15, "16 physical data lines, one record spans two");
    assert_eq!(r.kept, 6);
    let expected = [
        (DropReason::Duplicate, 5),
        (DropReason::MissingUser, 6),
        (DropReason::MissingItem, 7),
        (DropReason::UnknownType, 8),
        (DropReason::BadValue, 9),
        (DropReason::MissingRating, 10),
        (DropReason::RatingOutOfScale, 11),
        (DropReason::BadTimestamp, 12),
        (DropReason::MalformedRow, 13),
    ];
    assert_eq!(r.dropped.len(), expected.len());
    for (reason, line) in expected {
        assert_eq!(r.dropped[&reason], 1, "{reason:?}");
        assert_eq!(r.examples[&reason], vec![line], "{reason:?}");
    }
    // Quoted separators, doubled quotes and a newline inside a field survive.
    assert!(d.users.get("u,3").is_some());
    assert!(d.items.get("i\"4").is_some());
    assert!(d.items.get("i\n5").is_some());
    assert_eq!(d.users.len(), 4);
    // Implicit weights: u1 viewed i1 (1), carted (3) and bought (5) i2 once (duplicate gone).
    let m = d.interactions(Weighting::Implicit);
    let u1 = d.users.get("u1").unwrap();
    let i2 = d.items.get("i2").unwrap();
    assert_eq!(m.row(u1).weight_of(i2), Some(8.0));
}

#[test]
fn crlf_bom_and_gzip_read_the_same() {
    let plain = b"user_id,item_id,value,timestamp\nu1,i1,4,100\nu2,i1,5,200\n";
    let crlf_bom = b"\xEF\xBB\xBFuser_id,item_id,value,timestamp\r\nu1,i1,4,100\r\nu2,i1,5,200\r\n";
    let a = load_default(temp_file(plain).path()).unwrap();
    let b = load_default(temp_file(crlf_bom).path()).unwrap();
    let c = load_default(temp_file(&gzip(crlf_bom)).path()).unwrap();
    for d in [&a, &b, &c] {
        assert_eq!((d.report.rows, d.report.kept), (2, 2));
        assert_eq!(
            d.users.get("u1"),
            Some(0),
            "the BOM must not stick to the first column"
        );
        assert_eq!(d.events[1].value, 5.0);
    }
}

#[test]
fn truncated_gzip_is_an_error_naming_file_and_line() {
    let mut content = b"user_id,item_id\n".to_vec();
    for k in 0..20_000 {
        content.extend_from_slice(format!("user{k},item{}\n", k % 97).as_bytes());
    }
    let compressed = gzip(&content);
    let truncated = &compressed[..compressed.len() / 2];
    let f = temp_file(truncated);
    let err = load_default(f.path()).unwrap_err();
    assert!(matches!(err, DataError::Truncated { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains(&f.path().display().to_string()),
        "{message}"
    );
    assert!(message.contains("after line"), "{message}");
}

#[test]
fn empty_binary_and_single_column_files_are_clear_errors() {
    let err = load_default(temp_file(b"").path()).unwrap_err();
    assert!(matches!(err, DataError::Empty { .. }), "{err}");
    let err = load_default(temp_file(b"\n \n").path()).unwrap_err();
    assert!(matches!(err, DataError::Empty { .. }), "{err}");
    let mut junk = vec![0x89, b'P', b'N', b'G', 0, 0, 0, 13];
    junk.extend((0..4000u32).map(|k| (k * 7919 % 251) as u8));
    let err = load_default(temp_file(&junk).path()).unwrap_err();
    assert!(err.to_string().contains("not a text file"), "{err}");
    let err = load_default(temp_file(b"user_id item_id\nu1 i1\n").path()).unwrap_err();
    assert!(err.to_string().contains("single column"), "{err}");
    assert!(err.to_string().contains("line 1"), "{err}");
}

#[test]
fn wrong_separator_and_missing_columns_name_the_columns() {
    // Semicolons where the user said CSV: one column holds everything.
    let f = temp_file(b"user_id;item_id\nu1;i1\n");
    let read = ReadOptions {
        format: Format::Csv,
        ..Default::default()
    };
    let err = load(f.path(), &read, &CleaningOptions::default()).unwrap_err();
    assert!(err.to_string().contains("line 1"), "{err}");
    // A header without an item column.
    let f = temp_file(b"user_id,price\nu1,3\n");
    let read = ReadOptions {
        header: Some(true),
        ..Default::default()
    };
    let err = load(f.path(), &read, &CleaningOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no item column") && err.contains("user_id, price"),
        "{err}"
    );
    // A mapping naming a column that is not there.
    let read = ReadOptions {
        columns: "user=customer,item=sku".parse().unwrap(),
        ..Default::default()
    };
    let f = temp_file(b"customer,product\nc1,p1\n");
    let err = load(f.path(), &read, &CleaningOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("--map item=sku") && err.contains("customer, product"),
        "{err}"
    );
}

#[test]
fn column_map_and_headerless_positions() {
    let f = temp_file(b"ts,sku,customer_id,event,qty\n100,p1,c1,cart,2\n200,p1,c2,buy,1\n");
    let read = ReadOptions {
        columns: "user=customer_id,item=sku,type=event,value=qty,timestamp=ts"
            .parse()
            .unwrap(),
        ..Default::default()
    };
    let d = load(f.path(), &read, &CleaningOptions::default()).unwrap();
    assert_eq!(d.report.kept, 2);
    assert_eq!(d.event_types.name(d.events[0].kind), "add_to_cart");
    assert_eq!(d.event_types.name(d.events[1].kind), "purchase");
    let f = temp_file(b"p1\tc1\t5\np2\tc1\t3\n");
    let read = ReadOptions {
        columns: "user=2,item=1,value=3".parse().unwrap(),
        ..Default::default()
    };
    let d = load(f.path(), &read, &CleaningOptions::default()).unwrap();
    assert_eq!(d.users.ids().collect::<Vec<_>>(), vec!["c1"]);
    assert_eq!(d.items.len(), 2);
}

#[test]
fn jsonl_rows_and_broken_lines() {
    let f = temp_file(
        b"{\"user_id\": \"u1\", \"item_id\": 17, \"type\": \"purchase\", \"value\": 9.5, \"timestamp\": \"2024-01-01T00:00:00Z\"}\n\
          {\"user_id\": \"u2\", \"item_id\": \"17\", \"type\": \"view\"}\n\
          {broken\n\
          [1, 2]\n\
          {\"item_id\": \"5\"}\n",
    );
    let d = load_default(f.path()).unwrap();
    assert_eq!((d.report.rows, d.report.kept), (5, 2));
    assert_eq!(d.report.dropped[&DropReason::MalformedRow], 2);
    assert_eq!(d.report.dropped[&DropReason::MissingUser], 1);
    assert_eq!(d.items.len(), 1, "17 and \"17\" are the same item");
}

#[test]
fn megabyte_line_and_latin1_ids() {
    let mut content = b"user_id,item_id,type\n".to_vec();
    content.extend(std::iter::repeat_n(b'x', 1 << 20));
    content.extend_from_slice(b",i1,view\ncaf\xe9,i2,view\nu3,i1,view\n");
    let d = load_default(temp_file(&content).path()).unwrap();
    // The megabyte line is read whole; its id is too long to be one and is counted.
    assert_eq!((d.report.rows, d.report.kept), (3, 2));
    assert_eq!(d.report.dropped[&DropReason::BadId], 1);
    assert_eq!(d.report.examples[&DropReason::BadId], [2]);
    assert_eq!(d.report.latin1_fields, 1);
    assert!(d.users.get("café").is_some());
}

#[test]
fn a_million_columns_read_as_one_row_with_its_columns_found() {
    // A header of 10^6 columns with the three needed ones at the far end, and one row.
    let mut header: Vec<String> = (0..1_000_000 - 3).map(|k| format!("c{k}")).collect();
    header.extend(["user_id", "item_id", "type"].map(String::from));
    let mut row: Vec<&str> = vec![""; 1_000_000 - 3];
    row.extend(["u1", "i1", "view"]);
    let content = format!("{}\n{}\n", header.join(","), row.join(","));
    let d = load_default(temp_file(content.as_bytes()).path()).unwrap();
    assert_eq!((d.report.rows, d.report.kept), (1, 1));
    // Without user and item columns the first line is no header: the file is read by
    // position and every line is counted as dropped, none kept.
    let content = format!(
        "{}\n{}\n",
        header[..1_000].join(","),
        row[..1_000].join(",")
    );
    let d = load_default(temp_file(content.as_bytes()).path()).unwrap();
    assert_eq!((d.report.rows, d.report.kept), (2, 0));
    assert_eq!(d.report.dropped_total(), 2);
}

/// Cases per property (`AISLE_FUZZ_CASES`; `bench/fuzz` runs 10,000).
fn fuzz_cases() -> u32 {
    std::env::var("AISLE_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(256)
}

#[test]
fn movielens_formats_are_recognised() {
    let dat = temp_file(b"1::1193::5::978300760\n1::661::3::978302109\n2::1193::4::978298413\n");
    let read = ReadOptions {
        format: Format::MovieLens,
        ..Default::default()
    };
    let d = load(dat.path(), &read, &CleaningOptions::default()).unwrap();
    assert_eq!((d.report.kept, d.n_users(), d.n_items()), (3, 2, 2));
    assert!(d.is_ratings_only());
    // Auto-detection of the same file.
    let d = load_default(dat.path()).unwrap();
    assert_eq!(d.report.kept, 3);
    let Some(u_data) = shared_data("ml-100k/u.data") else {
        return;
    };
    let d = load(&u_data, &read, &CleaningOptions::default()).unwrap();
    assert_eq!(
        (d.report.rows, d.report.kept, d.n_users(), d.n_items()),
        (100_000, 100_000, 943, 1682)
    );
    let Some(csv) = shared_data("ml-latest-small/ratings.csv") else {
        return;
    };
    let d = load_default(&csv).unwrap();
    assert_eq!(
        (d.report.rows, d.report.kept, d.n_users(), d.n_items()),
        (100_836, 100_836, 610, 9724)
    );
}

#[test]
fn train_and_test_files_share_one_id_space() {
    let train = temp_file(b"a\tx\t5\t1\nb\ty\t3\t2\n");
    let test = temp_file(b"b\tx\t4\t3\nc\tz\t2\t4\n");
    let (tr, te) = Dataset::load_pair(
        train.path(),
        test.path(),
        &ReadOptions::default(),
        &CleaningOptions::default(),
        &ByteCounter::default(),
        None,
    )
    .unwrap();
    assert_eq!(tr.users.ids().collect::<Vec<_>>(), vec!["a", "b", "c"]);
    assert_eq!(te.users.get("b"), Some(1));
    let (m_train, m_test) = (
        tr.interactions(Weighting::Auto),
        te.interactions(Weighting::Auto),
    );
    assert_eq!(
        (m_train.n_users(), m_train.n_items()),
        (m_test.n_users(), m_test.n_items())
    );
}

/// An id made of characters that stress CSV quoting.
fn id_strategy() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[a-z0-9,\"\n;é ]{1,8}")
        .unwrap()
        .prop_filter("ids are trimmed", |s| s.trim() == s && !s.is_empty())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever the ids, a file written with correct CSV quoting reads back exactly.
    #[test]
    fn csv_round_trip(rows in proptest::collection::vec((id_strategy(), id_strategy(), 0u8..4, 0i64..2_000_000_000), 1..40)) {
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer.write_record(["user_id", "item_id", "type", "timestamp"]).unwrap();
        let types = ["view", "click", "add_to_cart", "purchase"];
        for (u, i, t, ts) in &rows {
            writer.write_record([u.as_str(), i.as_str(), types[*t as usize], &ts.to_string()]).unwrap();
        }
        let f = temp_file(&writer.into_inner().unwrap());
        let d = load(f.path(), &ReadOptions::default(), &CleaningOptions { drop_duplicates: false, ..Default::default() }).unwrap();
        prop_assert_eq!(d.report.rows, rows.len() as u64);
        prop_assert_eq!(d.report.kept, rows.len() as u64);
        let mut expected: Vec<(String, String, i64)> = rows.iter().map(|(u, i, _, ts)| (u.clone(), i.clone(), *ts)).collect();
        let mut got: Vec<(String, String, i64)> = d.events.iter().map(|e| (d.users.id(e.user).to_string(), d.items.id(e.item).to_string(), e.timestamp)).collect();
        expected.sort();
        got.sort();
        prop_assert_eq!(got, expected);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: fuzz_cases(), failure_persistence: None, ..ProptestConfig::default() })]

    /// Arbitrary bytes never panic, and every row read is either kept or counted as dropped.
    #[test]
    fn arbitrary_bytes_are_accounted_for(body in proptest::collection::vec(any::<u8>(), 0..600), header in 0usize..3) {
        let headers: [&[u8]; 3] = [b"user_id,item_id,type,value,timestamp\n", b"", b"{\"user_id\":1}\n"];
        let mut content = headers[header].to_vec();
        content.extend_from_slice(&body);
        let f = temp_file(&content);
        if let Ok(d) = load_default(f.path()) {
            prop_assert_eq!(d.report.rows, d.report.kept + d.report.dropped_total());
            prop_assert_eq!(d.events.len() as u64, d.report.kept);
        }
    }

    /// Gzip cut anywhere, and gzip of arbitrary bytes, is read or refused: never a panic.
    #[test]
    fn gzip_cut_anywhere_is_read_or_refused(body in proptest::collection::vec(any::<u8>(), 0..2_000), cut in 0.0f64..1.0) {
        let mut content = b"user_id,item_id,type\n".to_vec();
        content.extend_from_slice(&body);
        let compressed = gzip(&content);
        let keep = (compressed.len() as f64 * cut) as usize;
        let f = temp_file(&compressed[..keep]);
        if let Ok(d) = load_default(f.path()) {
            prop_assert_eq!(d.report.rows, d.report.kept + d.report.dropped_total());
        }
    }

    /// Very long fields, invalid UTF-8 and stray quotes in any column.
    #[test]
    fn odd_fields_are_accounted_for(rows in proptest::collection::vec(
        (proptest::collection::vec(any::<u8>(), 0..40), 0usize..3, 0usize..70_000), 1..8)) {
        let mut content = b"user_id,item_id,type,timestamp\n".to_vec();
        for (bytes, column, long) in &rows {
            let mut fields: Vec<Vec<u8>> = vec![b"u1".to_vec(), b"i1".to_vec(), b"view".to_vec(), b"1700000000".to_vec()];
            fields[*column] = bytes.clone();
            if *long > 60_000 {
                fields[(*column + 1) % 4] = vec![b'y'; *long];
            }
            content.extend_from_slice(&fields.join(&b","[..]));
            content.push(b'\n');
        }
        let f = temp_file(&content);
        if let Ok(d) = load_default(f.path()) {
            prop_assert_eq!(d.report.rows, d.report.kept + d.report.dropped_total());
        }
    }
}
