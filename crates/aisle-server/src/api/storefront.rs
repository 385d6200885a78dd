//! The storefront widget (`/widget.js`) and a sample storefront built from it alone
//! (`/shop/`), compiled into the binary like the dashboard. The widget renders placements'
//! lists as carousels on any page and reports clicks (see `docs/placements.md`).

use axum::http::header;
use axum::response::IntoResponse;

const WIDGET_JS: &str = include_str!("../../assets/widget.js");
const SHOP_HTML: &str = include_str!("../../assets/shop.html");

/// The widget. Cached for an hour: a shop's every page loads it.
pub async fn widget() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
            // Any shop's pages may load it.
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        ],
        WIDGET_JS,
    )
}

/// The sample storefront.
pub async fn shop() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        SHOP_HTML,
    )
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    #[test]
    fn the_widget_is_small() {
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gzip.write_all(super::WIDGET_JS.as_bytes()).unwrap();
        let size = gzip.finish().unwrap().len();
        assert!(size <= 10 * 1024, "widget.js is {size} bytes gzipped");
    }
}
