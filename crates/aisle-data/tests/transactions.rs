//! A shop's order lines, read as such: each cleaning rule of a transactions file triggered on
//! lines in the layout of the UCI Online Retail export (`../shared/data/online-retail/`),
//! with its count and line numbers.

use std::io::Write;

use aisle_data::{
    ByteCounter, CleaningOptions, Dataset, DropReason, FileKind, Note, Products, ReadOptions,
    TransactionRules, Weighting,
};

const HEADER: &str =
    "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n";

/// Line numbers are the file's: the header is line 1.
const LINES: &str = "\
536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom
536365,71053,WHITE METAL LANTERN,6,2010-12-01 08:26:00,3.39,17850.0,United Kingdom
536366,22633,HAND WARMER UNION JACK,6,2010-12-01 08:28:00,1.85,17850.0,United Kingdom
536367,POST,POSTAGE,3,2010-12-01 08:34:00,18.0,13047.0,France
536368,22960,JAM MAKING SET WITH JARS,6,2010-12-01 08:34:00,4.25,,United Kingdom
536369,21756,BATH BUILDING BLOCK WORD,3,2010-12-01 08:35:00,0.0,13047.0,United Kingdom
C536379,85123A,WHITE HANGING HEART T-LIGHT HOLDER,-2,2010-12-01 09:41:00,2.55,17850.0,United Kingdom
536380,85123a,WHITE HANGING HEART T-LIGHT HOLDER,1,2010-12-01 09:42:00,2.55,13047.0,United Kingdom
536381,22728,ALARM CLOCK BAKELIKE PINK,0,2010-12-01 09:45:00,3.75,13047.0,United Kingdom
536365,71053,WHITE METAL LANTERN,6,2010-12-01 08:26:00,3.39,17850.0,United Kingdom
536390,BANK CHARGES,Bank Charges,1,2010-12-01 10:00:00,15.0,13047.0,United Kingdom
536391,22633,HAND WARMER UNION JACK,-3,2010-12-01 10:05:00,1.85,17850.0,United Kingdom
536392,84406B,CREAM CUPID HEARTS COAT HANGER,8,2010-12-01 10:06:00,2.75,13047.0,United Kingdom
";

fn file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

fn load(text: &str, options: CleaningOptions) -> Dataset {
    let f = file(text);
    Dataset::load(
        f.path(),
        &ReadOptions::default(),
        &options,
        &ByteCounter::default(),
        None,
    )
    .unwrap()
}

#[test]
fn every_rule_of_order_lines_is_counted_with_its_lines() {
    let d = load(&format!("{HEADER}{LINES}"), CleaningOptions::default());
    let r = &d.report;
    assert_eq!(r.kind, FileKind::Transactions, "{}", r.kind_reason);
    assert_eq!(r.rows, 13);
    let dropped = [
        (DropReason::NonProduct, vec![5, 12]),
        (DropReason::NonPositivePrice, vec![7]),
        (DropReason::ZeroQuantity, vec![10]),
        (DropReason::Duplicate, vec![11]),
    ];
    for (reason, lines) in dropped {
        assert_eq!(r.dropped[&reason], lines.len() as u64, "{reason:?}");
        assert_eq!(r.examples[&reason], lines, "{reason:?}");
    }
    assert_eq!(r.kept, 13 - 5);
    let notes = [
        (Note::Return, vec![8, 13]),
        (Note::Guest, vec![6]),
        (Note::CaseFolded, vec![9]),
    ];
    for (note, lines) in notes {
        assert_eq!(r.note_examples[&note], lines, "{note:?}");
    }
    assert_eq!(r.folded_ids, [("85123a".to_string(), "85123A".to_string())]);
    assert_eq!(d.guest_events.len(), 1);
    assert_eq!(
        d.items.len(),
        5,
        "85123A/85123a are one item; POST and BANK CHARGES none"
    );
    assert_eq!(d.baskets.len(), 7, "the baskets of kept lines");

    // Auto weighting reads order lines as bought-or-not; counts weighting reads quantities,
    // and under both returns take back what they return.
    let choice = d.choose(Weighting::Auto);
    assert_eq!(choice.weighting, Weighting::Binary, "{}", choice.reason);
    assert!(choice.reason.contains("order lines"), "{}", choice.reason);
    let m = d.interactions(Weighting::Counts);
    let cell = |user: &str, item: &str| {
        let (u, i) = (d.users.get(user).unwrap(), d.items.get(item).unwrap());
        m.row(u).weight_of(i)
    };
    assert_eq!(
        cell("17850.0", "85123A"),
        Some(5f32.log2()),
        "6 bought, 2 back"
    );
    assert_eq!(cell("13047.0", "85123A"), Some(1.0));
    assert_eq!(
        cell("17850.0", "22633"),
        Some(4f32.log2()),
        "6 bought, 3 back"
    );
    assert_eq!(cell("17850.0", "71053"), Some(7f32.log2()));
    let binary = d.interactions(Weighting::Auto);
    assert_eq!(binary.nnz(), m.nnz());
    assert!(binary.weights().iter().all(|&w| w == 1.0));
}

#[test]
fn each_rule_can_be_switched() {
    let options = CleaningOptions {
        transactions: TransactionRules {
            keep_returns: false,
            products: Products::Matching(regex_lite::Regex::new("^[0-9]").unwrap()),
            drop_non_positive_prices: false,
            fold_case: false,
            cancel_prefix: String::new(),
            outlier_quantile: None,
        },
        ..CleaningOptions::default()
    };
    let d = load(&format!("{HEADER}{LINES}"), options);
    let r = &d.report;
    // Only the negative quantities are returns without a cancel prefix; both are dropped.
    assert_eq!(r.examples[&DropReason::Return], [8, 13]);
    assert_eq!(r.examples[&DropReason::NonProduct], [5, 12]);
    assert!(!r.dropped.contains_key(&DropReason::NonPositivePrice));
    assert!(r.folded_ids.is_empty());
    assert!(d.items.get("85123a").is_some());

    // Read as events, the same lines are views with quantities: no returns, no guests.
    let events = CleaningOptions {
        kind: FileKind::Events,
        ..CleaningOptions::default()
    };
    let d = load(&format!("{HEADER}{LINES}"), events);
    assert_eq!(d.report.kind, FileKind::Events);
    assert!(!d.report.dropped.contains_key(&DropReason::NonProduct));

    // Rows already typed `return` (a cleaned export read again) are dropped with the rest.
    let typed = "user_id,item_id,type,quantity,basket_id\nu1,i1,purchase,2,b1\n\
                 u1,i1,return,2,Cb1\nu1,i2,purchase,1,b2\n";
    let drop_returns = CleaningOptions {
        transactions: TransactionRules {
            keep_returns: false,
            ..TransactionRules::default()
        },
        ..CleaningOptions::default()
    };
    let d = load(typed, drop_returns);
    assert_eq!(d.report.examples[&DropReason::Return], [3]);
    assert_eq!(d.report.kept, 2);
}

#[test]
fn outlier_quantities_go_with_the_returns_that_cancel_them() {
    let mut text = String::from(HEADER);
    for k in 0..1_200 {
        text.push_str(&format!(
            "5{k:05},{},ITEM,{},2011-01-01 10:00:00,1.0,{},UK\n",
            20_000 + k % 50,
            1 + k % 12,
            100 + k % 40
        ));
    }
    text.push_str(
        "581483,23843,PAPER CRAFT LITTLE BIRDIE,80995,2011-12-09 09:15:00,2.08,16446.0,UK\n",
    );
    text.push_str(
        "C581484,23843,PAPER CRAFT LITTLE BIRDIE,-80995,2011-12-09 09:27:00,2.08,16446.0,UK\n",
    );
    // Above the 99.9th percentile of 1,201 purchases: only the 80,995 units.
    let options = CleaningOptions {
        transactions: TransactionRules {
            outlier_quantile: Some(0.999),
            ..TransactionRules::default()
        },
        ..CleaningOptions::default()
    };
    let d = load(&text, options);
    assert_eq!(d.report.dropped[&DropReason::OutlierQuantity], 2);
    assert_eq!(
        d.report.examples[&DropReason::OutlierQuantity],
        [1_202, 1_203]
    );
    assert!(
        d.users
            .get("16446.0")
            .is_none_or(|u| d.interactions(Weighting::Auto).row_len(u) == 0)
    );
}

/// Loads CSV text as a file with default options.
fn load_text(text: &str) -> Dataset {
    let mut file = tempfile::Builder::new().suffix(".csv").tempfile().unwrap();
    file.write_all(text.as_bytes()).unwrap();
    Dataset::load(
        file.path(),
        &ReadOptions::default(),
        &CleaningOptions::default(),
        &ByteCounter::default(),
        None,
    )
    .unwrap()
}

#[test]
fn auto_weighting_fits_each_kind_of_file_and_says_why() {
    let cases: [(&str, Weighting, &str); 5] = [
        (
            "user_id,item_id,rating\nu1,i1,4\nu1,i2,5\nu2,i1,3\nu2,i3,1\n",
            Weighting::Ratings,
            "rating on a scale",
        ),
        (
            "user_id,item_id,plays\nu1,i1,120\nu1,i2,3\nu2,i1,1\nu2,i3,48\n",
            Weighting::Counts,
            "counts",
        ),
        (
            "user,artist,value\nu1,a1,120\nu1,a2,3\nu2,a1,1\nu2,a3,4812\n",
            Weighting::Counts,
            "counts, not ratings",
        ),
        (
            "user_id,item_id,type,quantity\nu1,i1,view,1\nu1,i1,purchase,2\nu2,i3,add_to_cart,1\n",
            Weighting::Implicit,
            "not read as confidence",
        ),
        (
            "user_id,item_id,type,quantity,basket_id\nu1,i1,purchase,2,b1\nu1,i2,purchase,1,b1\n\
             u2,i1,purchase,12,b2\nu2,i1,return,12,b3\n",
            Weighting::Binary,
            "only purchases",
        ),
    ];
    for (text, expected, why) in cases {
        let choice = load_text(text).choose(Weighting::Auto);
        assert_eq!(choice.weighting, expected, "{text}: {}", choice.reason);
        assert!(choice.reason.contains(why), "{text}: {}", choice.reason);
    }
}

#[test]
fn baskets_are_invoices_with_guests_and_without_returns() {
    use aisle_data::{BasketSource, Baskets, GUEST};
    let d = load(&format!("{HEADER}{LINES}"), CleaningOptions::default());
    let baskets = Baskets::of(&d);
    assert_eq!(baskets.source, BasketSource::Column);
    let ids: Vec<&str> = baskets.baskets.iter().map(|b| b.id.as_str()).collect();
    // Ordered by (time, id); the cancelled invoice C536379 and the return line of 536391 are
    // not baskets; the postage, zero-price, zero-quantity and bank-charge lines were dropped.
    assert_eq!(ids, ["536365", "536366", "536368", "536380", "536392"]);
    let first = &baskets.baskets[0];
    let names: Vec<&str> = first.items.iter().map(|&i| d.items.id(i)).collect();
    assert_eq!(names, ["85123A", "71053"]);
    // The guest order (no customer) is a basket of its own.
    let guest = baskets.baskets.iter().find(|b| b.id == "536368").unwrap();
    assert_eq!(guest.user, GUEST);
}

#[test]
fn without_a_basket_column_a_users_purchases_of_one_day_are_a_basket() {
    use aisle_data::{BasketSource, Baskets};
    let text = "user_id,item_id,type,timestamp\n\
                u1,a,purchase,86400\n\
                u1,b,purchase,90000\n\
                u1,c,view,90001\n\
                u1,c,purchase,172800\n\
                u2,a,purchase,100\n";
    let d = load(text, CleaningOptions::default());
    let baskets = Baskets::of(&d);
    assert_eq!(baskets.source, BasketSource::SameDayPurchases);
    let shown: Vec<(String, i64, usize)> = baskets
        .baskets
        .iter()
        .map(|b| (b.id.clone(), b.time, b.items.len()))
        .collect();
    assert_eq!(
        shown,
        [
            ("u2@0".to_string(), 100, 1),
            ("u1@1".to_string(), 86_400, 2),
            ("u1@2".to_string(), 172_800, 1),
        ]
    );
}
