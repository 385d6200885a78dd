//! A synthetic shop: a catalogue, users and a stream of shopping events drawn from a planted
//! low-rank model, for demos, benchmarks and tests that need to know the truth.
//!
//! [`generate`] writes `items.csv`, `users.csv` and `events.csv` to a folder; [`ShopModel`]
//! holds the latent truth, so a simulator or a test can ask for a user's affinity to an item
//! and for the probabilities of a click, a cart and a purchase. The output is a pure function
//! of the [`ShopConfig`]: the same config gives the same bytes, whatever the number of threads
//! (on one platform: `exp`/`ln` come from the platform's maths library).
//!
//! # The generative model
//!
//! Notation: `r` = `rank`, `C` = `categories`, `z ~ N(0, I/r)` a Gaussian vector of expected
//! squared length 1, `e ~ N(0, 1)`, `σ(x) = 1 / (1 + exp(−x))`, `normalise(v) = v / |v|`.
//! Parameter names in `code` are fields of [`ShopConfig`].
//!
//! **Categories** are the first `C` of a fixed list of 40 named categories (Books, Electronics,
//! Kitchen, …), each with a median price `m_c` and six product nouns. Category `c` gets a
//! direction `μ_c`, uniform on the unit sphere of `R^r`, and a size weight
//! `ω_c = (k_c + 1)^−0.6` for a random ranking `k` of the categories.
//!
//! **Items** `i = 0 … items − 1`:
//! - popularity `π_i = (k_i + 1 + h·items)^−α` for a random permutation `k` of the items
//!   (Zipf–Mandelbrot: a power law with a flattened head; `α` = `popularity_exponent`,
//!   `h` = `popularity_head`);
//! - primary category `c1 ~ ω`; with probability `second_category_probability` also a
//!   secondary category `c2 ~ ω`, `c2 ≠ c1`;
//! - factor `q_i = ρ·m_i + sqrt(1 − ρ²)·z_i` with `m_i = normalise(μ_c1 + ½·μ_c2)` (or `μ_c1`)
//!   and `ρ` = `category_coherence`: item vectors cluster around their category's direction;
//! - price `⌊m_c1 · exp(0.5·e)⌋ + 0.99` (log-normal around the category's median);
//! - title `"{adjective} {noun of c1}"`, 5 % of them followed by a pack suffix such as
//!   `", Set of 2"` (so some titles need CSV quoting; one noun, `12" Skillet`, has a quote);
//! - available with probability `available_fraction`; an unavailable item is out of stock for
//!   the whole period: viewed, never carted or bought;
//! - created uniformly in the year before `start`, or, with probability `new_item_fraction`,
//!   uniformly within the period, and then seen in no session that starts before it exists.
//!   The heaviest item of each category always predates `start`.
//!
//! Category `c`'s sampling table holds its primary members with weight `π_i` and its secondary
//! members with weight `½·π_i`; `W_c` is the total weight and `ν_c` the weighted mean of the
//! members' `q_i`.
//!
//! **Users** `u = 0 … users − 1`:
//! - activity `a_u = exp(σ_a·e)` (`σ_a` = `user_activity_sigma`), the user's relative rate of
//!   sessions;
//! - 1, 2 or 3 favourite categories (probabilities 0.5, 0.35, 0.15) `f_k ~ ω`, with weights
//!   `w_k ~ Exp(1)`;
//! - factor `p_u = s·(τ·d_u + sqrt(1 − τ²)·z_u)` with `d_u = normalise(Σ_k w_k·μ_fk)`,
//!   `s` = `affinity_scale`, `τ` = `taste_focus`;
//! - a country from a fixed weighted list (independent of taste) and a creation time uniform in
//!   the two years before `start`.
//!
//! **Affinity** `a(u, i) = ⟨p_u, q_i⟩` is the planted rank-`r` truth. Every choice below
//! depends on the user only through it.
//!
//! **Sessions.** `events.csv` is a sequence of sessions, each made as follows.
//! 1. A user `u`, drawn with probability `∝ a_u`. The session starts when the cumulative
//!    session intensity reaches the share of rows already written; the intensity follows the
//!    UTC hour `h` as `1 + 0.6·cos(2π(h − 20)/24)` and is ×1.2 on Saturdays and Sundays, so
//!    sessions cover `[start, start + days)` in order.
//! 2. A number of views `V ~ Geometric` with mean `mean_session_views` (at most 100).
//! 3. A session category with `P(c | u) ∝ W_c · exp(β·⟨p_u, ν_c⟩)` (`β` = `taste_strength`);
//!    before each further view it is kept with probability `stay_in_category`, else redrawn.
//!    (This is the first-order approximation of the category's share of the item-level law
//!    below.)
//! 4. Each viewed item: `K` = `candidates` items are drawn from the category's table (in
//!    proportion to popularity, skipping items created after the session start) and one of
//!    them is kept with probability `∝ exp(β·a(u, i))`. This resampling step (the same law as
//!    keeping the candidate with the best `β·a + Gumbel noise`) tends, as `K` grows, to
//!    `P(i | u, c) ∝ π_i · exp(β·a(u, i))`; it costs `O(C·r)` per session and `O(K·r)` per
//!    view, never `O(items)`.
//! 5. After each view, `add_to_cart` with probability `σ(cart_bias + cart_slope·a)` (an item is
//!    carted at most once per session).
//! 6. At checkout, each carted item is bought with probability
//!    `σ(purchase_bias + purchase_slope·a − price_sensitivity·ln(price / m_c1))`, in quantity
//!    1, 2 or 3 (0.85, 0.11, 0.04); the `purchase` value is price × quantity.
//! 7. Each bought item is rated with probability `rating_probability`, the rating being
//!    `clip(round(rating_center + rating_slope·a + rating_noise·e), 1, 5)`.
//!
//! Within a session a cart follows its view by `2 + Exp(20)` s, the next view comes
//! `5 + Exp(40)` s later, checkout `30 + Exp(90)` s after the last view, purchases are
//! `1 + Exp(2)` s apart and each rating `20 + Exp(120)` s after the event before it (`Exp(m)`
//! exponential with mean `m`, times rounded down to seconds). So every purchase follows a cart
//! of the same item by the same user in the same session, and every rating a purchase.
//!
//! [`ShopModel::click_probability`], `σ(click_bias + click_slope·a)`, is not used by the stream
//! (browsing produces views) but by simulators that show users recommendations.
//!
//! **Randomness.** Categories, items and users are drawn from their own streams
//! `Rng::new(pair_hash(seed, 1, 0))`, `(seed, 2, 0)` and `(seed, 3, 0)` (so the users stay the
//! same when only the number of items changes, and the other way round).
//!
//! **Streaming.** Rows are simulated in chunks of 65,536, each from its own random stream
//! `Rng::new(pair_hash(seed, 4, chunk))`, a few chunks per thread at a time, and written in
//! order; memory holds only the model (`O((users + items)·r)`) and the chunks in flight. A
//! session cut by the end of a chunk (or of the file) ends early; what is written is still a
//! valid session prefix. Rows are grouped by session, sessions in order of start time, so rows
//! of sessions that overlap in time are not globally sorted by timestamp. A user is in one
//! session at a time: a session drawn for a user still shopping goes to another user (or,
//! after 8 tries, starts when the user's previous session ended). Chunks are independent, so
//! this holds within each chunk; across a chunk boundary a user's sessions may rarely
//! overlap.
//!
//! # Files
//! - `items.csv`: `item_id,title,categories,price,available,created_at` — ids `i0, i1, …`,
//!   categories `|`-separated (primary first), price with two decimals, `true`/`false`,
//!   RFC 3339 UTC.
//! - `users.csv`: `user_id,country,created_at` — ids `u0, u1, …`.
//! - `events.csv`: `user_id,item_id,type,value,timestamp` — type `view`, `add_to_cart`,
//!   `purchase` (value: revenue with two decimals) or `rating` (value `1`–`5`); value empty
//!   for views and carts; Unix seconds. Exactly `events` rows.
//! - or, from [`generate_plays`], `plays.csv`: `user_id,item_id,plays` — play counts of the
//!   same users and items, one row per pair (the `plays` module says how they are drawn).
//!
//! ```no_run
//! use aisle_data::generate::{ShopConfig, generate};
//! let config = ShopConfig { users: 10_000, items: 2_000, events: 1_000_000, ..ShopConfig::default() };
//! let summary = generate(&config, std::path::Path::new("shop"), |written| eprintln!("{written}"))?;
//! println!("{} purchases, revenue {:.2}", summary.purchases, summary.revenue);
//! # Ok::<(), std::io::Error>(())
//! ```

mod alias;
mod catalog;
mod csv_out;
mod events;
mod model;
mod plays;

use std::fs::File;
use std::io::{self, BufWriter};
use std::path::Path;

use serde::{Deserialize, Serialize};

pub use model::{ShopItem, ShopModel, ShopUser};
pub use plays::PlaysSummary;

/// The number of named categories available ([`ShopConfig::categories`] is at most this).
pub const MAX_CATEGORIES: u32 = catalog::CATEGORIES.len() as u32;

/// Everything that determines a synthetic shop. The defaults make a small shop (1,000 users,
/// 500 items, 50,000 events over 90 days from 2024-01-01T00:00:00Z).
///
/// How the behavioural defaults were chosen: not by fitting a model (there is no data to
/// validate against) but by generating shops of 1,000 × 500 and 150,000 × 30,000 users ×
/// items and adjusting until the data had the shape of typical e-commerce logs with a clearly
/// recoverable structure: about 4 views per session, an `add_to_cart` for roughly one view in
/// nine, a bit over half of carted items bought, ratings mostly 3–5 (mean about 4), the top
/// 10 % of items drawing over half of the events (Gini about 0.64) without any single item
/// dominating a large catalogue, and about 40 % of a user's views in their 1–3 favourite
/// categories (12 % in another user's). The module's tests check the looser properties that
/// must hold. Rank 8 and 24 categories keep the planted structure visible at the default size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ShopConfig {
    /// Number of users (at least 1).
    pub users: u32,
    /// Number of items (at least 1).
    pub items: u32,
    /// Exact number of event rows (at most 2^48).
    pub events: u64,
    pub seed: u64,
    /// Number of categories, `1..=MAX_CATEGORIES`.
    pub categories: u32,
    /// Rank `r` of the planted user and item factors.
    pub rank: u32,
    /// Length of the period the sessions cover, in days.
    pub days: u32,
    /// Start of the period, Unix seconds (fixed default, so output is reproducible).
    pub start: i64,

    /// Exponent `α` of the power law of item popularity.
    pub popularity_exponent: f64,
    /// `h`: the popularity law's offset as a share of the catalogue, which flattens the head
    /// (no single item takes a large share of a big catalogue) and leaves the tail a power law.
    pub popularity_head: f64,
    /// Probability that an item has a second category.
    pub second_category_probability: f64,
    /// `ρ`: how closely item factors follow their category direction (0 = not at all, 1 =
    /// exactly).
    pub category_coherence: f64,
    /// `τ`: how closely user factors follow their favourite categories.
    pub taste_focus: f64,
    /// `s`: the length of user factors, hence the spread of affinities.
    pub affinity_scale: f64,
    /// `β`: how strongly affinity steers which categories and items a user looks at.
    pub taste_strength: f64,
    /// `K`: popularity-drawn candidates per view, among which taste picks one.
    pub candidates: u32,
    /// `σ_a`: log-normal spread of user activity.
    pub user_activity_sigma: f64,
    /// Share of items in stock.
    pub available_fraction: f64,
    /// Share of items created during the period rather than before it.
    pub new_item_fraction: f64,

    /// Mean number of views per session (at least 1).
    pub mean_session_views: f64,
    /// Probability that the next view stays in the session's current category.
    pub stay_in_category: f64,
    pub click_bias: f64,
    pub click_slope: f64,
    pub cart_bias: f64,
    pub cart_slope: f64,
    pub purchase_bias: f64,
    pub purchase_slope: f64,
    /// Weight of `ln(price / category median)` against buying.
    pub price_sensitivity: f64,
    /// Probability that a bought item is rated.
    pub rating_probability: f64,
    /// Rating at affinity 0, before noise.
    pub rating_center: f64,
    pub rating_slope: f64,
    /// Standard deviation of the Gaussian rating noise.
    pub rating_noise: f64,
    /// How strongly affinity lengthens listening in play-count mode ([`generate_plays`]):
    /// a listen adds `Geometric(1 + exp(play_slope · a))` plays.
    pub play_slope: f64,
}

impl Default for ShopConfig {
    fn default() -> Self {
        ShopConfig {
            users: 1_000,
            items: 500,
            events: 50_000,
            seed: 42,
            categories: 24,
            rank: 8,
            days: 90,
            start: 1_704_067_200, // 2024-01-01T00:00:00Z
            popularity_exponent: 1.0,
            popularity_head: 0.01,
            second_category_probability: 0.25,
            category_coherence: 0.8,
            taste_focus: 0.8,
            affinity_scale: 2.5,
            taste_strength: 2.0,
            candidates: 4,
            user_activity_sigma: 1.0,
            available_fraction: 0.9,
            new_item_fraction: 0.1,
            mean_session_views: 4.0,
            stay_in_category: 0.75,
            click_bias: -2.5,
            click_slope: 1.0,
            cart_bias: -3.5,
            cart_slope: 1.0,
            purchase_bias: -1.2,
            purchase_slope: 0.7,
            price_sensitivity: 0.3,
            rating_probability: 0.3,
            rating_center: 2.4,
            rating_slope: 0.8,
            rating_noise: 0.8,
            play_slope: 1.0,
        }
    }
}

/// A [`ShopConfig`] field out of its valid range.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("shop config: `{field}` must be {expected}, got {value}")]
pub struct ShopConfigError {
    pub field: &'static str,
    pub expected: String,
    pub value: String,
}

impl From<ShopConfigError> for io::Error {
    fn from(error: ShopConfigError) -> Self {
        io::Error::new(io::ErrorKind::InvalidInput, error)
    }
}

fn check_range(
    field: &'static str,
    value: f64,
    low: f64,
    high: f64,
) -> Result<(), ShopConfigError> {
    if value.is_finite() && (low..=high).contains(&value) {
        Ok(())
    } else {
        Err(ShopConfigError {
            field,
            expected: format!("a number in [{low}, {high}]"),
            value: value.to_string(),
        })
    }
}

fn check_count(
    field: &'static str,
    value: u64,
    low: u64,
    high: u64,
) -> Result<(), ShopConfigError> {
    if (low..=high).contains(&value) {
        Ok(())
    } else {
        Err(ShopConfigError {
            field,
            expected: format!("an integer in [{low}, {high}]"),
            value: value.to_string(),
        })
    }
}

impl ShopConfig {
    /// Checks every field, naming the first one out of range.
    pub fn check(&self) -> Result<(), ShopConfigError> {
        check_count("users", self.users.into(), 1, u32::MAX.into())?;
        check_count("items", self.items.into(), 1, u32::MAX.into())?;
        // Each chunk of rows has its own 32-bit-numbered random stream.
        check_count(
            "events",
            self.events,
            0,
            (u64::from(u32::MAX) + 1) * events::CHUNK_EVENTS,
        )?;
        check_count(
            "categories",
            self.categories.into(),
            1,
            MAX_CATEGORIES.into(),
        )?;
        check_count("rank", self.rank.into(), 1, 1024)?;
        check_count("days", self.days.into(), 1, 36_500)?;
        check_count("candidates", self.candidates.into(), 1, 1024)?;
        // Users are created up to two years before `start`; the last sessions may run a
        // little past the end. All of it must be printable as RFC 3339.
        let earliest = self.start.checked_sub(731 * 86_400);
        let latest = self.start.checked_add((i64::from(self.days) + 30) * 86_400);
        let printable = |t: Option<i64>| t.is_some_and(|t| jiff::Timestamp::from_second(t).is_ok());
        if !(printable(earliest) && printable(latest)) {
            return Err(ShopConfigError {
                field: "start",
                expected: "a Unix time such that users (created up to two years earlier) and \
                           the period fit in years -9999..=9999"
                    .into(),
                value: self.start.to_string(),
            });
        }
        for (field, value, low, high) in [
            ("popularity_exponent", self.popularity_exponent, 0.0, 5.0),
            ("popularity_head", self.popularity_head, 0.0, 1.0),
            (
                "second_category_probability",
                self.second_category_probability,
                0.0,
                1.0,
            ),
            ("category_coherence", self.category_coherence, 0.0, 1.0),
            ("taste_focus", self.taste_focus, 0.0, 1.0),
            ("affinity_scale", self.affinity_scale, 0.0, 20.0),
            ("taste_strength", self.taste_strength, 0.0, 20.0),
            ("user_activity_sigma", self.user_activity_sigma, 0.0, 5.0),
            ("available_fraction", self.available_fraction, 0.0, 1.0),
            ("new_item_fraction", self.new_item_fraction, 0.0, 1.0),
            ("mean_session_views", self.mean_session_views, 1.0, 100.0),
            ("stay_in_category", self.stay_in_category, 0.0, 1.0),
            ("click_bias", self.click_bias, -50.0, 50.0),
            ("click_slope", self.click_slope, -50.0, 50.0),
            ("cart_bias", self.cart_bias, -50.0, 50.0),
            ("cart_slope", self.cart_slope, -50.0, 50.0),
            ("purchase_bias", self.purchase_bias, -50.0, 50.0),
            ("purchase_slope", self.purchase_slope, -50.0, 50.0),
            ("price_sensitivity", self.price_sensitivity, -50.0, 50.0),
            ("rating_probability", self.rating_probability, 0.0, 1.0),
            ("rating_center", self.rating_center, 1.0, 5.0),
            ("rating_slope", self.rating_slope, -50.0, 50.0),
            ("rating_noise", self.rating_noise, 0.0, 50.0),
            ("play_slope", self.play_slope, 0.0, 5.0),
        ] {
            check_range(field, value, low, high)?;
        }
        Ok(())
    }
}

/// What [`generate`] wrote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerateSummary {
    pub users: u64,
    pub items: u64,
    /// Event rows written (equal to the config's `events`).
    pub events: u64,
    pub sessions: u64,
    pub views: u64,
    pub add_to_carts: u64,
    pub purchases: u64,
    pub ratings: u64,
    /// Sum of purchase values.
    pub revenue: f64,
    /// Earliest and latest event timestamps (Unix seconds), `None` without events.
    pub first_timestamp: Option<i64>,
    pub last_timestamp: Option<i64>,
}

impl ShopModel {
    /// Writes the catalogue as `items.csv` (header included).
    pub fn write_items<W: io::Write>(&self, out: W) -> io::Result<()> {
        csv_out::write_items(self, out)
    }

    /// Writes the users as `users.csv` (header included).
    pub fn write_users<W: io::Write>(&self, out: W) -> io::Result<()> {
        csv_out::write_users(self, out)
    }

    /// Simulates and writes exactly `config.events` event rows as `events.csv` (header
    /// included), calling `progress` with the rows written so far after each batch.
    pub fn write_events<W: io::Write>(
        &self,
        out: W,
        progress: impl FnMut(u64),
    ) -> io::Result<GenerateSummary> {
        events::write_events(self, out, progress)
    }

    /// Simulates `config.events` listens and writes their play counts as `plays.csv` (header
    /// included); see the `plays` module.
    pub fn write_plays<W: io::Write>(
        &self,
        out: W,
        progress: impl FnMut(u64),
    ) -> io::Result<PlaysSummary> {
        plays::write_plays(self, out, progress)
    }
}

/// Generates a synthetic shop into `out_dir` (created if missing): `items.csv`, `users.csv`
/// and `events.csv`. `progress` is called with the number of event rows written so far. An
/// invalid config is an [`io::ErrorKind::InvalidInput`] error wrapping a [`ShopConfigError`].
pub fn generate(
    config: &ShopConfig,
    out_dir: &Path,
    progress: impl FnMut(u64),
) -> io::Result<GenerateSummary> {
    write_shop_files(config, out_dir, "events.csv", |model, out| {
        model.write_events(out, progress)
    })
}

/// The play-count twin of [`generate`]: `items.csv`, `users.csv` and `plays.csv`
/// (`user_id,item_id,plays`), `config.events` listens of the same planted users and items
/// aggregated per pair. `progress` is called with the listens simulated so far.
pub fn generate_plays(
    config: &ShopConfig,
    out_dir: &Path,
    progress: impl FnMut(u64),
) -> io::Result<PlaysSummary> {
    write_shop_files(config, out_dir, "plays.csv", |model, out| {
        model.write_plays(out, progress)
    })
}

/// Writes `items.csv`, `users.csv` and, by `behaviour`, the file `name` into `out_dir`.
fn write_shop_files<T>(
    config: &ShopConfig,
    out_dir: &Path,
    name: &str,
    behaviour: impl FnOnce(&ShopModel, BufWriter<File>) -> io::Result<T>,
) -> io::Result<T> {
    let model = ShopModel::new(config)?;
    std::fs::create_dir_all(out_dir)?;
    let create = |name: &str| -> io::Result<BufWriter<File>> {
        Ok(BufWriter::with_capacity(
            1 << 20,
            File::create(out_dir.join(name))?,
        ))
    };
    model.write_items(create("items.csv")?)?;
    model.write_users(create("users.csv")?)?;
    behaviour(&model, create(name)?)
}

#[cfg(test)]
mod tests;
