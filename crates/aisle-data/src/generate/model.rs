//! The latent truth of a synthetic shop: category directions, item and user factor vectors,
//! popularity, prices and the probabilities that drive the simulated funnel.
//!
//! [`ShopModel`] is what the event generator samples from, and what a simulator (or a test)
//! asks "how much does this user like this item, and would they click, cart, buy it?".
//! Every formula is stated in the module documentation of [`super`].

use super::alias::AliasTable;
use super::catalog::{ADJECTIVES, CATEGORIES, COUNTRIES, PACK_SUFFIXES};
use super::{ShopConfig, ShopConfigError};
use crate::Rng;
use crate::rng::pair_hash;

/// Tags that give each part of the model its own random stream, so that, e.g., the users of a
/// shop stay the same when only the number of items changes.
pub(crate) const STREAM_CATEGORIES: u32 = 1;
pub(crate) const STREAM_ITEMS: u32 = 2;
pub(crate) const STREAM_USERS: u32 = 3;
pub(crate) const STREAM_EVENTS: u32 = 4;
pub(crate) const STREAM_PLAYS: u32 = 5;

const DAY: i64 = 86_400;
/// Category sizes follow `(rank + 1)^-CATEGORY_SIZE_EXPONENT` over a random ranking.
const CATEGORY_SIZE_EXPONENT: f64 = 0.6;
/// Weight of the secondary category in an item's direction and in the secondary category's
/// sampling table (relative to the primary).
const SECONDARY_WEIGHT: f64 = 0.5;
/// Log-normal spread of prices within a category (sigma of the log price).
const PRICE_SIGMA: f64 = 0.5;
/// Share of titles that carry a pack-size suffix (with a comma).
const PACK_SUFFIX_SHARE: f64 = 0.05;
/// Catalogue items not new in the period were created during the year before `start`.
const ITEM_HISTORY_DAYS: i64 = 365;
/// Users were created during the two years before `start`.
const USER_HISTORY_DAYS: i64 = 730;
/// Draw limit, as a multiple of `candidates`, when skipping items not yet created.
const CANDIDATE_DRAW_FACTOR: u32 = 4;

/// One item of the synthetic catalogue.
#[derive(Debug, Clone, PartialEq)]
pub struct ShopItem {
    pub title: String,
    pub primary_category: u32,
    pub secondary_category: Option<u32>,
    /// Price in cents (every price ends in .99).
    pub price_cents: u64,
    /// `false`: out of stock for the whole period; viewed but never carted or bought.
    pub available: bool,
    /// Unix seconds.
    pub created_at: i64,
    /// The power-law popularity weight `pi_i` (unnormalised).
    pub popularity: f64,
}

impl ShopItem {
    pub fn price(&self) -> f64 {
        self.price_cents as f64 / 100.0
    }

    /// The primary category, then the secondary one if any.
    pub fn categories(&self) -> impl Iterator<Item = u32> + '_ {
        std::iter::once(self.primary_category).chain(self.secondary_category)
    }
}

/// One user of the synthetic shop.
#[derive(Debug, Clone, PartialEq)]
pub struct ShopUser {
    /// ISO 3166 alpha-2 code; independent of taste (a pure noise attribute).
    pub country: &'static str,
    /// Unix seconds; always before the first event.
    pub created_at: i64,
    /// Relative session rate `a_u` (log-normal).
    pub activity: f64,
    /// The categories the user's taste was built around (`F_u`).
    pub favourite_categories: Vec<u32>,
}

/// The items of one category, ready for popularity-proportional draws.
#[derive(Debug, Clone)]
struct CategoryIndex {
    members: Vec<u32>,
    draw: Option<AliasTable>,
    /// The member of largest weight; created before `start`, so a category is never empty of
    /// items that exist.
    anchor: Option<u32>,
    /// `ln W_c`, the log of the members' total sampling weight (`-inf` when empty).
    log_mass: f64,
}

/// The planted truth behind a synthetic shop (see the [module docs](super) for the model).
#[derive(Debug, Clone)]
pub struct ShopModel {
    config: ShopConfig,
    rank: usize,
    /// `mu_c`, unit vectors, `categories × rank` row-major.
    category_directions: Vec<f32>,
    /// `nu_c`, the weight-averaged factor of a category's members.
    category_means: Vec<f32>,
    categories: Vec<CategoryIndex>,
    items: Vec<ShopItem>,
    item_factors: Vec<f32>,
    users: Vec<ShopUser>,
    user_factors: Vec<f32>,
    user_draw: AliasTable,
}

/// A unit vector in a uniformly random direction.
fn random_direction(rng: &mut Rng, rank: usize) -> Vec<f64> {
    loop {
        let v: Vec<f64> = (0..rank).map(|_| rng.normal()).collect();
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm > 1e-9 {
            return v.into_iter().map(|x| x / norm).collect();
        }
    }
}

fn normalised(v: &mut [f64]) {
    let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    if norm > 1e-12 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

/// `focus · direction + sqrt(1 - focus²) · z`, `z ~ N(0, I/rank)`, scaled by `scale`: a vector
/// whose expected squared length is `scale²` and whose cosine with `direction` is about
/// `focus`.
fn blend_with_noise(rng: &mut Rng, direction: &[f64], focus: f64, scale: f64, out: &mut Vec<f32>) {
    let spread = (1.0 - focus * focus).max(0.0).sqrt() / (direction.len() as f64).sqrt();
    out.extend(
        direction
            .iter()
            .map(|d| (scale * (focus * d + spread * rng.normal())) as f32),
    );
}

#[inline]
fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>() as f64
}

#[inline]
fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

impl ShopModel {
    /// Draws the latent truth for `config` (deterministic in `config.seed`).
    pub fn new(config: &ShopConfig) -> Result<Self, ShopConfigError> {
        config.check()?;
        let rank = config.rank as usize;
        let n_categories = config.categories as usize;
        let seed = config.seed;

        // Categories: directions and relative sizes.
        let mut rng = Rng::new(pair_hash(seed, STREAM_CATEGORIES, 0));
        let directions: Vec<Vec<f64>> = (0..n_categories)
            .map(|_| random_direction(&mut rng, rank))
            .collect();
        let mut size_rank: Vec<usize> = (0..n_categories).collect();
        rng.shuffle(&mut size_rank);
        let category_sizes: Vec<f64> = size_rank
            .iter()
            .map(|&r| ((r + 1) as f64).powf(-CATEGORY_SIZE_EXPONENT))
            .collect();
        let category_draw = AliasTable::new(&category_sizes);

        let (mut items, item_factors) = Self::draw_items(config, &directions, &category_draw);
        let categories = Self::index_categories(config, &mut items);
        let category_means = Self::category_means(&categories, &items, &item_factors, rank);
        let (users, user_factors) = Self::draw_users(config, &directions, &category_draw);
        let activities: Vec<f64> = users.iter().map(|u| u.activity).collect();

        Ok(ShopModel {
            config: config.clone(),
            rank,
            category_directions: directions.iter().flatten().map(|&x| x as f32).collect(),
            category_means,
            categories,
            items,
            item_factors,
            users,
            user_factors,
            user_draw: AliasTable::new(&activities),
        })
    }

    fn draw_items(
        config: &ShopConfig,
        directions: &[Vec<f64>],
        category_draw: &AliasTable,
    ) -> (Vec<ShopItem>, Vec<f32>) {
        let n = config.items as usize;
        let rank = config.rank as usize;
        let period = i64::from(config.days) * DAY;
        let mut rng = Rng::new(pair_hash(config.seed, STREAM_ITEMS, 0));
        let head = config.popularity_head * n as f64;
        let mut popularity_rank: Vec<u32> = (0..config.items).collect();
        rng.shuffle(&mut popularity_rank);

        let mut items = Vec::with_capacity(n);
        let mut factors = Vec::with_capacity(n * rank);
        let mut direction = vec![0.0; rank];
        for &pop_rank in &popularity_rank {
            let primary = category_draw.sample(&mut rng);
            let mut secondary = None;
            if category_draw.len() > 1 && rng.chance(config.second_category_probability) {
                // Bounded retries: a near-degenerate size distribution must not loop for long.
                secondary = (0..64)
                    .map(|_| category_draw.sample(&mut rng))
                    .find(|&c| c != primary);
            }
            direction.copy_from_slice(&directions[primary]);
            if let Some(s) = secondary {
                for (d, x) in direction.iter_mut().zip(&directions[s]) {
                    *d += SECONDARY_WEIGHT * x;
                }
                normalised(&mut direction);
            }
            blend_with_noise(
                &mut rng,
                &direction,
                config.category_coherence,
                1.0,
                &mut factors,
            );

            let spec = &CATEGORIES[primary];
            let price = spec.median_price * (PRICE_SIGMA * rng.normal()).exp();
            let price_cents = (price.floor().max(0.0) as u64) * 100 + 99;
            let mut title = format!(
                "{} {}",
                ADJECTIVES[rng.index(ADJECTIVES.len())],
                spec.nouns[rng.index(spec.nouns.len())]
            );
            if rng.chance(PACK_SUFFIX_SHARE) {
                title.push_str(PACK_SUFFIXES[rng.index(PACK_SUFFIXES.len())]);
            }
            let available = rng.chance(config.available_fraction);
            let created_at = if rng.chance(config.new_item_fraction) {
                config.start + rng.below(period as u64) as i64
            } else {
                config.start - 1 - rng.below((ITEM_HISTORY_DAYS * DAY) as u64) as i64
            };
            items.push(ShopItem {
                title,
                primary_category: primary as u32,
                secondary_category: secondary.map(|s| s as u32),
                price_cents,
                available,
                created_at,
                popularity: (f64::from(pop_rank) + 1.0 + head).powf(-config.popularity_exponent),
            });
        }
        (items, factors)
    }

    /// Builds each category's sampling table and makes sure its heaviest member exists from
    /// the start of the period.
    fn index_categories(config: &ShopConfig, items: &mut [ShopItem]) -> Vec<CategoryIndex> {
        let n_categories = config.categories as usize;
        let mut members: Vec<Vec<u32>> = vec![Vec::new(); n_categories];
        let mut weights: Vec<Vec<f64>> = vec![Vec::new(); n_categories];
        for (i, item) in items.iter().enumerate() {
            members[item.primary_category as usize].push(i as u32);
            weights[item.primary_category as usize].push(item.popularity);
            if let Some(s) = item.secondary_category {
                members[s as usize].push(i as u32);
                weights[s as usize].push(SECONDARY_WEIGHT * item.popularity);
            }
        }
        // A stream of its own, so that moving anchors back in time shifts no other draw.
        let mut rng = Rng::new(pair_hash(config.seed, STREAM_ITEMS, 1));
        members
            .into_iter()
            .zip(weights)
            .map(|(members, weights)| {
                let anchor = weights
                    .iter()
                    .enumerate()
                    .max_by(|a, b| a.1.total_cmp(b.1))
                    .map(|(k, _)| members[k]);
                if let Some(a) = anchor {
                    let item = &mut items[a as usize];
                    if item.created_at >= config.start {
                        item.created_at =
                            config.start - 1 - rng.below((ITEM_HISTORY_DAYS * DAY) as u64) as i64;
                    }
                }
                let total: f64 = weights.iter().sum();
                CategoryIndex {
                    draw: (!members.is_empty()).then(|| AliasTable::new(&weights)),
                    anchor,
                    log_mass: if total > 0.0 {
                        total.ln()
                    } else {
                        f64::NEG_INFINITY
                    },
                    members,
                }
            })
            .collect()
    }

    fn category_means(
        categories: &[CategoryIndex],
        items: &[ShopItem],
        item_factors: &[f32],
        rank: usize,
    ) -> Vec<f32> {
        let mut means = vec![0.0f32; categories.len() * rank];
        for (c, index) in categories.iter().enumerate() {
            let mut sum = vec![0.0f64; rank];
            let mut total = 0.0;
            for &i in &index.members {
                let item = &items[i as usize];
                let w = if item.primary_category as usize == c {
                    item.popularity
                } else {
                    SECONDARY_WEIGHT * item.popularity
                };
                total += w;
                let q = &item_factors[i as usize * rank..(i as usize + 1) * rank];
                for (s, &x) in sum.iter_mut().zip(q) {
                    *s += w * f64::from(x);
                }
            }
            if total > 0.0 {
                for (m, s) in means[c * rank..(c + 1) * rank].iter_mut().zip(&sum) {
                    *m = (s / total) as f32;
                }
            }
        }
        means
    }

    fn draw_users(
        config: &ShopConfig,
        directions: &[Vec<f64>],
        category_draw: &AliasTable,
    ) -> (Vec<ShopUser>, Vec<f32>) {
        let n = config.users as usize;
        let rank = config.rank as usize;
        let mut rng = Rng::new(pair_hash(config.seed, STREAM_USERS, 0));
        let country_weights: Vec<f64> = COUNTRIES.iter().map(|&(_, w)| w).collect();
        let country_draw = AliasTable::new(&country_weights);
        let mut users = Vec::with_capacity(n);
        let mut factors = Vec::with_capacity(n * rank);
        let mut direction = vec![0.0; rank];
        for _ in 0..n {
            let activity = (config.user_activity_sigma * rng.normal()).exp();
            let n_favourites = match rng.f64() {
                x if x < 0.5 => 1,
                x if x < 0.85 => 2,
                _ => 3,
            };
            let mut favourite_categories = Vec::with_capacity(n_favourites);
            direction.iter_mut().for_each(|d| *d = 0.0);
            for _ in 0..n_favourites {
                let c = category_draw.sample(&mut rng);
                let weight = rng.exponential(1.0);
                for (d, x) in direction.iter_mut().zip(&directions[c]) {
                    *d += weight * x;
                }
                if !favourite_categories.contains(&(c as u32)) {
                    favourite_categories.push(c as u32);
                }
            }
            normalised(&mut direction);
            blend_with_noise(
                &mut rng,
                &direction,
                config.taste_focus,
                config.affinity_scale,
                &mut factors,
            );
            users.push(ShopUser {
                country: COUNTRIES[country_draw.sample(&mut rng)].0,
                created_at: config.start - 1 - rng.below((USER_HISTORY_DAYS * DAY) as u64) as i64,
                activity,
                favourite_categories,
            });
        }
        (users, factors)
    }

    pub fn config(&self) -> &ShopConfig {
        &self.config
    }

    /// Rank `r` of the planted factors.
    pub fn rank(&self) -> usize {
        self.rank
    }

    pub fn items(&self) -> &[ShopItem] {
        &self.items
    }

    pub fn users(&self) -> &[ShopUser] {
        &self.users
    }

    pub fn n_items(&self) -> u32 {
        self.items.len() as u32
    }

    pub fn n_users(&self) -> u32 {
        self.users.len() as u32
    }

    /// Names of the shop's categories, indexed by category number.
    pub fn category_names(&self) -> impl ExactSizeIterator<Item = &'static str> + '_ {
        CATEGORIES[..self.categories.len()].iter().map(|c| c.name)
    }

    pub fn category_name(&self, category: u32) -> &'static str {
        CATEGORIES[category as usize].name
    }

    /// The external id of user index `user`: `u{user}`.
    pub fn user_id(&self, user: u32) -> String {
        format!("u{user}")
    }

    /// The external id of item index `item`: `i{item}`.
    pub fn item_id(&self, item: u32) -> String {
        format!("i{item}")
    }

    /// `p_u`, the user's planted factor vector.
    pub fn user_factors(&self, user: u32) -> &[f32] {
        let u = user as usize;
        &self.user_factors[u * self.rank..(u + 1) * self.rank]
    }

    /// `q_i`, the item's planted factor vector.
    pub fn item_factors(&self, item: u32) -> &[f32] {
        let i = item as usize;
        &self.item_factors[i * self.rank..(i + 1) * self.rank]
    }

    /// `mu_c`, the unit direction of a category.
    pub fn category_direction(&self, category: u32) -> &[f32] {
        let c = category as usize;
        &self.category_directions[c * self.rank..(c + 1) * self.rank]
    }

    /// The true affinity `a(u, i) = <p_u, q_i>`.
    #[inline]
    pub fn affinity(&self, user: u32, item: u32) -> f64 {
        dot(self.user_factors(user), self.item_factors(item))
    }

    /// Probability that `user` clicks `item` when it is shown to them (e.g. in a list of
    /// recommendations): `sigmoid(click_bias + click_slope · a)`.
    pub fn click_probability(&self, user: u32, item: u32) -> f64 {
        sigmoid(self.config.click_bias + self.config.click_slope * self.affinity(user, item))
    }

    /// Probability that `user` adds `item` to the cart after viewing it:
    /// `sigmoid(cart_bias + cart_slope · a)`, and 0 for an unavailable item.
    pub fn cart_probability(&self, user: u32, item: u32) -> f64 {
        if !self.items[item as usize].available {
            return 0.0;
        }
        sigmoid(self.config.cart_bias + self.config.cart_slope * self.affinity(user, item))
    }

    /// Probability that a carted `item` is bought:
    /// `sigmoid(purchase_bias + purchase_slope · a − price_sensitivity · ln(price / median))`,
    /// with the median price of the item's primary category; 0 for an unavailable item.
    pub fn purchase_probability(&self, user: u32, item: u32) -> f64 {
        let it = &self.items[item as usize];
        if !it.available {
            return 0.0;
        }
        let median = CATEGORIES[it.primary_category as usize].median_price;
        let c = &self.config;
        sigmoid(
            c.purchase_bias + c.purchase_slope * self.affinity(user, item)
                - c.price_sensitivity * (it.price() / median).ln(),
        )
    }

    /// The mean rating before noise and rounding: `rating_center + rating_slope · a`, clipped
    /// to `[1, 5]`.
    pub fn expected_rating(&self, user: u32, item: u32) -> f64 {
        (self.config.rating_center + self.config.rating_slope * self.affinity(user, item))
            .clamp(1.0, 5.0)
    }

    /// A rating in `1..=5`: `round(rating_center + rating_slope · a + rating_noise · e)`,
    /// `e ~ N(0, 1)`, clipped.
    pub fn sample_rating(&self, user: u32, item: u32, rng: &mut Rng) -> u8 {
        let c = &self.config;
        let x = c.rating_center
            + c.rating_slope * self.affinity(user, item)
            + c.rating_noise * rng.normal();
        x.round().clamp(1.0, 5.0) as u8
    }

    /// A user drawn in proportion to activity `a_u`.
    #[inline]
    pub fn sample_user(&self, rng: &mut Rng) -> u32 {
        self.user_draw.sample(rng) as u32
    }

    /// Unnormalised category preferences of `user` written to `out` as a cumulative sum:
    /// `out[c] = sum over c' <= c of exp(ln W_c' + beta · <p_u, nu_c'> - max)`.
    pub(crate) fn category_cumulative(&self, user: u32, out: &mut Vec<f64>) {
        let p = self.user_factors(user);
        let beta = self.config.taste_strength;
        out.clear();
        out.extend(self.categories.iter().enumerate().map(|(c, index)| {
            let nu = &self.category_means[c * self.rank..(c + 1) * self.rank];
            index.log_mass + beta * dot(p, nu)
        }));
        let max = out.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mut total = 0.0;
        for logit in out.iter_mut() {
            total += (*logit - max).exp();
            *logit = total;
        }
    }

    /// `P(c | u)` for every category: the softmax the session's category is drawn from.
    pub fn category_preferences(&self, user: u32) -> Vec<f64> {
        let mut cumulative = Vec::new();
        self.category_cumulative(user, &mut cumulative);
        let total = cumulative.last().copied().unwrap_or(1.0);
        let mut previous = 0.0;
        cumulative
            .into_iter()
            .map(|c| {
                let p = (c - previous) / total;
                previous = c;
                p
            })
            .collect()
    }

    /// A draw from a cumulative table made by [`Self::category_cumulative`].
    #[inline]
    pub(crate) fn draw_category(cumulative: &[f64], rng: &mut Rng) -> u32 {
        let total = cumulative.last().copied().unwrap_or(0.0);
        let target = rng.f64() * total;
        cumulative
            .partition_point(|&c| c <= target)
            .min(cumulative.len().saturating_sub(1)) as u32
    }

    /// An item of `category` that `user` looks at, at time `now`: `candidates` items are drawn
    /// in proportion to popularity (skipping those created after `now`) and one of them is
    /// kept with probability proportional to `exp(taste_strength · a(u, i))`. `None` only when
    /// the category has no items.
    pub fn sample_item(&self, user: u32, category: u32, now: i64, rng: &mut Rng) -> Option<u32> {
        let index = self.categories.get(category as usize)?;
        let draw = index.draw.as_ref()?;
        let beta = self.config.taste_strength;
        let wanted = self.config.candidates;
        let mut accepted = 0;
        let mut weight_sum = 0.0;
        let mut chosen = index.anchor;
        for _ in 0..wanted * CANDIDATE_DRAW_FACTOR {
            let item = index.members[draw.sample(rng)];
            if self.items[item as usize].created_at > now {
                continue;
            }
            // Weighted reservoir of size one: the survivor is candidate k with probability
            // w_k / sum w, the same law as the arg-max of beta·a + Gumbel noise.
            let weight = (beta * self.affinity(user, item)).exp();
            weight_sum += weight;
            if rng.f64() * weight_sum < weight {
                chosen = Some(item);
            }
            accepted += 1;
            if accepted == wanted {
                break;
            }
        }
        chosen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> ShopConfig {
        ShopConfig {
            users: 300,
            items: 400,
            ..ShopConfig::default()
        }
    }

    #[test]
    fn model_is_deterministic_and_users_do_not_depend_on_items() {
        let a = ShopModel::new(&small()).unwrap();
        let b = ShopModel::new(&small()).unwrap();
        assert_eq!(a.items, b.items);
        assert_eq!(a.user_factors, b.user_factors);
        let more_items = ShopModel::new(&ShopConfig {
            items: 900,
            ..small()
        })
        .unwrap();
        assert_eq!(a.users, more_items.users);
        assert_eq!(a.user_factors, more_items.user_factors);
    }

    #[test]
    fn probabilities_are_valid_and_increase_with_affinity() {
        let model = ShopModel::new(&small()).unwrap();
        let user = 7;
        let mut available: Vec<u32> = (0..model.n_items())
            .filter(|&i| model.items()[i as usize].available)
            .collect();
        available.sort_by(|&a, &b| model.affinity(user, a).total_cmp(&model.affinity(user, b)));
        let (low, high) = (available[0], *available.last().unwrap());
        assert!(model.affinity(user, high) > model.affinity(user, low));
        for f in [
            ShopModel::click_probability,
            ShopModel::cart_probability,
            ShopModel::expected_rating,
        ] {
            assert!(f(&model, user, high) > f(&model, user, low));
        }
        for i in 0..model.n_items() {
            for p in [
                model.click_probability(user, i),
                model.cart_probability(user, i),
                model.purchase_probability(user, i),
            ] {
                assert!((0.0..=1.0).contains(&p));
            }
            if !model.items()[i as usize].available {
                assert_eq!(model.cart_probability(user, i), 0.0);
                assert_eq!(model.purchase_probability(user, i), 0.0);
            }
        }
        let prefs = model.category_preferences(user);
        assert!((prefs.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    }

    #[test]
    fn every_nonempty_category_has_an_item_from_before_the_start() {
        let config = ShopConfig {
            new_item_fraction: 0.9,
            ..small()
        };
        let model = ShopModel::new(&config).unwrap();
        let mut rng = Rng::new(5);
        for c in 0..config.categories {
            let index = &model.categories[c as usize];
            if index.members.is_empty() {
                assert!(model.sample_item(0, c, config.start, &mut rng).is_none());
                continue;
            }
            for _ in 0..50 {
                let item = model.sample_item(0, c, config.start, &mut rng).unwrap();
                let it = &model.items()[item as usize];
                assert!(it.created_at <= config.start);
                assert!(it.categories().any(|k| k == c));
            }
        }
    }

    #[test]
    fn item_choice_follows_taste_within_a_category() {
        // With many candidates the kept item has a clearly higher affinity than a plain
        // popularity draw (a single candidate).
        let model = ShopModel::new(&small()).unwrap();
        let mean_affinity = |candidates: u32| {
            let m = ShopModel::new(&ShopConfig {
                candidates,
                ..small()
            })
            .unwrap();
            let mut rng = Rng::new(11);
            let mut sum = 0.0;
            let draws = 20_000;
            for k in 0..draws {
                let user = k % m.n_users();
                let c = m.users()[user as usize].favourite_categories[0];
                let item = m.sample_item(user, c, i64::MAX, &mut rng).unwrap();
                sum += m.affinity(user, item);
            }
            sum / f64::from(draws)
        };
        assert!(model.n_items() > 0);
        let popularity_only = mean_affinity(1);
        let with_taste = mean_affinity(16);
        assert!(
            with_taste > popularity_only + 0.3,
            "{with_taste} vs {popularity_only}"
        );
    }
}
