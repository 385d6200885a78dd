//! Which column of a file holds the user, item, type, value, timestamp, basket, quantity and
//! price: the user's `--map`, the usual names (aliases), and positional defaults for
//! header-less files.

use std::str::FromStr;

/// The role a column plays in an events file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    User,
    Item,
    Type,
    Value,
    Timestamp,
    /// The order, invoice or session a line belongs to.
    Basket,
    /// Units bought (or played, ...): a count, distinct from a rating value.
    Quantity,
    /// Unit price.
    Price,
}

/// How many roles there are.
pub const ROLES: usize = 8;

/// Each role's column position in a row (`None`: the file has no such column).
pub type Positions = [Option<usize>; ROLES];

impl Role {
    pub const ALL: [Role; ROLES] = [
        Role::User,
        Role::Item,
        Role::Type,
        Role::Value,
        Role::Timestamp,
        Role::Basket,
        Role::Quantity,
        Role::Price,
    ];

    pub fn key(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Item => "item",
            Role::Type => "type",
            Role::Value => "value",
            Role::Timestamp => "timestamp",
            Role::Basket => "basket",
            Role::Quantity => "quantity",
            Role::Price => "price",
        }
    }

    /// Column names recognised for this role, compared after [`normalize`].
    fn aliases(self) -> &'static [&'static str] {
        match self {
            Role::User => &[
                "userid",
                "user",
                "customerid",
                "customer",
                "visitorid",
                "visitor",
                "uid",
                "clientid",
                "memberid",
                // Last: a session is the user only when nothing names the user (then it is
                // not also taken as the basket).
                "sessionid",
            ],
            Role::Item => &[
                "itemid",
                "item",
                "productid",
                "product",
                "sku",
                "movieid",
                "movie",
                "articleid",
                "article",
                "iid",
                "asin",
                "contentid",
                "stockcode",
                "productcode",
                "itemcode",
            ],
            Role::Type => &[
                "type",
                "eventtype",
                "event",
                "action",
                "kind",
                "eventname",
                "behavior",
            ],
            Role::Value => &["value", "rating", "score", "amount", "weight"],
            Role::Timestamp => &[
                "timestamp",
                "ts",
                "time",
                "datetime",
                "date",
                "eventtime",
                "createdat",
                "occurredat",
                "unixtime",
                "invoicedate",
                "orderdate",
                "purchasedate",
                "transactiondate",
            ],
            Role::Basket => &[
                "basket",
                "basketid",
                "invoice",
                "invoiceno",
                "invoiceid",
                "invoicenumber",
                "order",
                "orderid",
                "orderno",
                "ordernumber",
                "transactionid",
                "receipt",
                "receiptid",
                "cartid",
                "sessionid",
                "session",
            ],
            Role::Quantity => &[
                "quantity",
                "qty",
                "units",
                "count",
                "plays",
                "playcount",
                "listens",
            ],
            Role::Price => &[
                "price",
                "unitprice",
                "itemprice",
                "priceeach",
                "unitcost",
                "saleprice",
            ],
        }
    }

    /// The role whose alias `name` is, if any (the first in [`Role::ALL`] order).
    pub fn from_header(name: &str) -> Option<Role> {
        let n = normalize(name);
        Role::ALL
            .into_iter()
            .find(|role| role.aliases().contains(&n.as_str()))
    }

    /// Whether `name` is one of this role's aliases.
    pub fn is_alias(self, name: &str) -> bool {
        self.aliases().contains(&normalize(name).as_str())
    }
}

/// Lower-case without `_`, `-`, spaces and dots: `User_ID` and `userId` both become `userid`.
pub(crate) fn normalize(name: &str) -> String {
    name.chars()
        .filter(|c| !matches!(c, '_' | '-' | ' ' | '.'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// A column named by header text, or by 1-based position (as the user writes it; stored
/// 0-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnRef {
    Name(String),
    Position(usize),
}

/// The user's column mapping: `user=customer_id,item=sku,type=event,value=qty,timestamp=ts`,
/// or positions for header-less files: `user=1,item=2,value=3`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ColumnMap {
    entries: Vec<(Role, ColumnRef)>,
}

impl ColumnMap {
    pub fn get(&self, role: Role) -> Option<&ColumnRef> {
        self.entries
            .iter()
            .find(|(r, _)| *r == role)
            .map(|(_, c)| c)
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether the mapping is by position (which implies a header-less file).
    pub fn is_positional(&self) -> bool {
        !self.entries.is_empty()
            && self
                .entries
                .iter()
                .all(|(_, c)| matches!(c, ColumnRef::Position(_)))
    }

    /// Whether any entry is a position.
    pub fn entries_positional(&self) -> bool {
        self.entries
            .iter()
            .any(|(_, c)| matches!(c, ColumnRef::Position(_)))
    }

    /// Whether the mapping names columns by header text.
    pub fn has_names(&self) -> bool {
        self.entries
            .iter()
            .any(|(_, c)| matches!(c, ColumnRef::Name(_)))
    }

    /// The column positions for each role given a header line's fields, or the reason they
    /// cannot be found.
    pub fn resolve_header(&self, header: &[String]) -> Result<Positions, String> {
        let mut found = [None; ROLES];
        // Explicit names and positions first; then each role takes the first column whose
        // name is one of its aliases and that no role took before it.
        for (slot, role) in found.iter_mut().zip(Role::ALL) {
            *slot = match self.get(role) {
                Some(ColumnRef::Position(p)) => Some(*p),
                Some(ColumnRef::Name(name)) => Some(
                    header
                        .iter()
                        .position(|h| h == name)
                        .or_else(|| header.iter().position(|h| normalize(h) == normalize(name)))
                        .ok_or_else(|| {
                            format!(
                                "--map {}={name}: no such column (the header has: {})",
                                role.key(),
                                header.join(", ")
                            )
                        })?,
                ),
                None => None,
            };
        }
        for role in Role::ALL {
            if found[role as usize].is_some() || self.get(role).is_some() {
                continue;
            }
            found[role as usize] = role.aliases().iter().find_map(|alias| {
                header
                    .iter()
                    .position(|h| normalize(h) == *alias)
                    .filter(|p| !found.contains(&Some(*p)))
            });
        }
        let missing: Vec<&str> = [Role::User, Role::Item]
            .into_iter()
            .filter(|r| found[*r as usize].is_none())
            .map(Role::key)
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "no {} column found (the header has: {}); name it with --map, e.g. --map user=customer_id,item=sku",
                missing.join(" or "),
                header.join(", ")
            ));
        }
        Ok(found)
    }

    /// Column positions for a header-less file with `width` fields: the mapping's positions,
    /// else by width: 2 = user,item; 3 = user,item,value; 4 = user,item,value,timestamp
    /// (MovieLens); 5 or more = user,item,type,value,timestamp (Aisle's own order).
    pub fn resolve_positional(&self, width: usize) -> Result<Positions, String> {
        if self.has_names() {
            return Err(
                "--map names columns by header text, but the file has no header; \
                        use 1-based positions (e.g. --map user=1,item=2) or --header"
                    .into(),
            );
        }
        if !self.entries.is_empty() {
            let mut found = [None; ROLES];
            for (role, column) in &self.entries {
                if let ColumnRef::Position(p) = column {
                    found[*role as usize] = Some(*p);
                }
            }
            if found[0].is_none() || found[1].is_none() {
                return Err("a positional --map must give both user and item".into());
            }
            return Ok(found);
        }
        Ok(match width {
            0 | 1 => {
                return Err(format!(
                    "a row has {width} field(s); at least user and item are needed"
                ));
            }
            2 => [Some(0), Some(1), None, None, None, None, None, None],
            3 => [Some(0), Some(1), None, Some(2), None, None, None, None],
            4 => [Some(0), Some(1), None, Some(2), Some(3), None, None, None],
            _ => [
                Some(0),
                Some(1),
                Some(2),
                Some(3),
                Some(4),
                None,
                None,
                None,
            ],
        })
    }
}

impl FromStr for ColumnMap {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut map = ColumnMap::default();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, column) = part
                .split_once('=')
                .ok_or_else(|| format!("--map entry '{part}' is not of the form role=column"))?;
            let role = match key.trim() {
                "user" | "user_id" => Role::User,
                "item" | "item_id" => Role::Item,
                "type" | "event" => Role::Type,
                "value" | "rating" => Role::Value,
                "timestamp" | "time" | "ts" => Role::Timestamp,
                "basket" | "order" | "invoice" | "session" => Role::Basket,
                "quantity" | "qty" => Role::Quantity,
                "price" => Role::Price,
                other => {
                    return Err(format!(
                        "--map: unknown role '{other}' (expected user, item, type, value, \
                         timestamp, basket, quantity or price)"
                    ));
                }
            };
            let column = column.trim();
            if column.is_empty() {
                return Err(format!("--map {key}= names no column"));
            }
            let column = match column.parse::<usize>() {
                Ok(0) => return Err(format!("--map {key}=0: positions start at 1")),
                Ok(p) => ColumnRef::Position(p - 1),
                Err(_) => ColumnRef::Name(column.to_string()),
            };
            if map.get(role).is_some() {
                return Err(format!("--map gives '{}' twice", role.key()));
            }
            map.entries.push((role, column));
        }
        Ok(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn aliases_resolve_common_headers() {
        let map = ColumnMap::default();
        let found = map
            .resolve_header(&header(&["userId", "movieId", "rating", "timestamp"]))
            .unwrap();
        assert_eq!(found[..5], [Some(0), Some(1), None, Some(2), Some(3)]);
        let found = map
            .resolve_header(&header(&["visitorid", "event", "itemid", "timestamp"]))
            .unwrap();
        assert_eq!(found[..5], [Some(0), Some(2), Some(1), None, Some(3)]);
        // A shop's order lines: invoice, stock code, quantity, unit price, date.
        let found = map
            .resolve_header(&header(&[
                "InvoiceNo",
                "StockCode",
                "Description",
                "Quantity",
                "InvoiceDate",
                "UnitPrice",
                "CustomerID",
            ]))
            .unwrap();
        assert_eq!(
            found,
            [
                Some(6),
                Some(1),
                None,
                None,
                Some(4),
                Some(0),
                Some(3),
                Some(5)
            ]
        );
        // A session is the user when nothing else is, and then not the basket too.
        let found = map
            .resolve_header(&header(&["session_id", "item_id"]))
            .unwrap();
        assert_eq!((found[0], found[5]), (Some(0), None));
    }

    #[test]
    fn explicit_map_wins_and_errors_name_the_column() {
        let map: ColumnMap = "user=customer_id,item=sku,type=event,value=qty,timestamp=ts"
            .parse()
            .unwrap();
        let h = header(&["ts", "sku", "customer_id", "event", "qty"]);
        assert_eq!(
            map.resolve_header(&h).unwrap()[..5],
            [Some(2), Some(1), Some(3), Some(4), Some(0)]
        );
        let bad: ColumnMap = "user=client".parse().unwrap();
        let err = bad.resolve_header(&h).unwrap_err();
        assert!(
            err.contains("--map user=client") && err.contains("customer_id"),
            "{err}"
        );
        let err = ColumnMap::default()
            .resolve_header(&header(&["a", "b"]))
            .unwrap_err();
        assert!(err.contains("no user or item column"), "{err}");
    }

    #[test]
    fn positional_maps() {
        let map: ColumnMap = "user=2,item=1".parse().unwrap();
        assert!(map.is_positional());
        assert_eq!(map.resolve_positional(3).unwrap()[..2], [Some(1), Some(0)]);
        assert_eq!(
            ColumnMap::default().resolve_positional(4).unwrap()[3],
            Some(2)
        );
        assert!("user=0".parse::<ColumnMap>().is_err());
        assert!("colour=1".parse::<ColumnMap>().is_err());
        assert!("user".parse::<ColumnMap>().is_err());
    }
}
