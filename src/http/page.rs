//! `GET /`: the web page for speakers (upload a talk, watch progress, read the report), and the
//! `GET /api/config` it reads the upload limits from.
//!
//! The page is three files under `static/`, compiled into the binary with `include_str!`, so the
//! service needs no asset directory, no CDN and no network beyond itself. Assets are linked as
//! `/static/<name>?v=<version>` where the version is a hash of all assets: a versioned URL is
//! immutable and cached for a year, while `/` itself is revalidated on every load (`no-cache` +
//! `ETag`), so a new binary is picked up at once and an unchanged page costs a 304.

use std::sync::LazyLock;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiError;
use super::error::ErrorBody;
use crate::app::AppState;

/// Languages `POST /analyze?language=` accepts, in the order the page offers them.
pub const ANALYSIS_LANGUAGES: [&str; 3] = ["auto", "ru", "en"];

/// One embedded file of the page.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

/// The file `static/<name>`, compiled in, served as `/static/<name>`.
macro_rules! asset {
    ($name:literal, $content_type:literal) => {
        Asset {
            name: $name,
            content_type: $content_type,
            body: include_str!(concat!("../../static/", $name)),
        }
    };
}

/// Everything `/static/` serves. `index.html` is not here: it is served (versioned) at `/`.
const ASSETS: [Asset; 4] = [
    asset!("app.js", "text/javascript; charset=utf-8"),
    asset!("progress.js", "text/javascript; charset=utf-8"),
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("favicon.svg", "image/svg+xml"),
];

const INDEX_TEMPLATE: &str = include_str!("../../static/index.html");

/// Placeholder in `index.html` replaced by [`ASSET_VERSION`].
const VERSION_PLACEHOLDER: &str = "{{ASSET_VERSION}}";

/// A year: the longest lifetime caches honour; versioned URLs never change content.
const IMMUTABLE_CACHE: &str = "public, max-age=31536000, immutable";

/// The page only loads its own files, talks only to its own origin, and plays the user's own
/// file through a `blob:` URL. No inline script or style is allowed, which is why the HTML has
/// none (SVG presentation attributes are not styles, so the timeline is unaffected).
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   media-src 'self' blob:; connect-src 'self'; base-uri 'none'; \
                   form-action 'none'; frame-ancestors 'none'";

/// Short hash of every asset and the HTML: changes whenever any of them changes.
static ASSET_VERSION: LazyLock<String> = LazyLock::new(|| {
    let mut hasher = blake3::Hasher::new();
    hasher.update(INDEX_TEMPLATE.as_bytes());
    for a in &ASSETS {
        hasher.update(a.name.as_bytes());
        hasher.update(a.body.as_bytes());
    }
    hasher.finalize().to_hex()[..16].to_string()
});

static INDEX_HTML: LazyLock<String> =
    LazyLock::new(|| INDEX_TEMPLATE.replace(VERSION_PLACEHOLDER, &ASSET_VERSION));

/// The page, its assets and `/api/config`. Merged into the application router.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(index))
        .routes(routes!(asset))
        .routes(routes!(config))
}

/// What the page must know before an upload: the limits, so it can refuse early and say so.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PageConfig {
    /// Largest accepted upload, bytes (`MAX_FILE_SIZE_MB`).
    pub max_file_size_bytes: u64,
    /// Longest accepted recording, seconds (`MAX_AUDIO_DURATION_SEC`).
    pub max_audio_duration_sec: f64,
    /// Values of `POST /analyze?language=`.
    pub languages: Vec<String>,
}

/// The upload limits and languages, for the page to check a file before sending it.
#[utoipa::path(
    get,
    path = "/api/config",
    tag = "page",
    responses((status = 200, description = "Limits (`Cache-Control: no-store`)", body = PageConfig))
)]
async fn config(State(state): State<AppState>) -> Response {
    let body = PageConfig {
        max_file_size_bytes: state.config.server.max_file_size_bytes,
        max_audio_duration_sec: state.config.audio.max_duration_sec,
        languages: ANALYSIS_LANGUAGES.iter().map(|s| s.to_string()).collect(),
    };
    // Limits change only on restart, but a stale limit would make the page refuse or allow
    // wrongly: always ask.
    ([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

/// The web page: upload a talk, watch its progress, read the report.
#[utoipa::path(
    get,
    path = "/",
    tag = "page",
    params(("If-None-Match" = Option<String>, Header, description = "The page's ETag")),
    responses(
        (status = 200, description = "The page (`Cache-Control: no-cache`, ETag)", body = String, content_type = "text/html; charset=utf-8"),
        (status = 304, description = "Unchanged since the ETag given"),
    )
)]
async fn index(headers: HeaderMap) -> Response {
    let etag = format!("\"{}\"", *ASSET_VERSION);
    let mut resp = if_none_match(&headers, &etag).unwrap_or_else(|| {
        (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            INDEX_HTML.as_str(),
        )
            .into_response()
    });
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::ETAG, header_value(&etag));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        HeaderName::from_static("x-frame-options"),
        HeaderValue::from_static("DENY"),
    );
    resp
}

/// Query of an asset URL: `v` is the version the page was built with.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct AssetQuery {
    /// The asset version the page links (cached for a year when it is the current one).
    v: Option<String>,
}

/// One of the page's files: `app.js`, `progress.js`, `style.css`, `favicon.svg`.
#[utoipa::path(
    get,
    path = "/static/{name}",
    tag = "page",
    params(
        ("name" = String, Path, description = "File name"),
        AssetQuery,
        ("If-None-Match" = Option<String>, Header, description = "The file's ETag"),
    ),
    responses(
        (status = 200, description = "The file", content(
            (String = "text/javascript; charset=utf-8"),
            (String = "text/css; charset=utf-8"),
            (String = "image/svg+xml"),
        )),
        (status = 304, description = "Unchanged since the ETag given"),
        (status = 404, description = "No such file", body = ErrorBody),
    )
)]
async fn asset(
    Path(name): Path<String>,
    Query(query): Query<AssetQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let asset = ASSETS
        .iter()
        .find(|a| a.name == name)
        .ok_or_else(|| ApiError::NotFound(format!("no static file {name:?}")))?;
    let etag = format!("\"{}-{}\"", *ASSET_VERSION, asset.name);
    // Only a URL naming the current version may be cached forever: an old page asking for
    // `?v=<old>` gets today's file, which must not be pinned under the old name.
    let cache = if query.v.as_deref() == Some(ASSET_VERSION.as_str()) {
        IMMUTABLE_CACHE
    } else {
        "no-cache"
    };
    let mut resp = if_none_match(&headers, &etag).unwrap_or_else(|| {
        ([(header::CONTENT_TYPE, asset.content_type)], asset.body).into_response()
    });
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(header::ETAG, header_value(&etag));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(resp)
}

/// 304 when the client already holds this version.
fn if_none_match(headers: &HeaderMap, etag: &str) -> Option<Response> {
    let held = headers.get(header::IF_NONE_MATCH)?.to_str().ok()?;
    held.split(',')
        .map(str::trim)
        .any(|t| t == etag || t == "*" || t.strip_prefix("W/") == Some(etag))
        .then(|| StatusCode::NOT_MODIFIED.into_response())
}

fn header_value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).expect("hex etag is a valid header value")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Source};
    use axum::Router;
    use axum::body::{Body, to_bytes};
    use axum::http::Request;
    use tower::ServiceExt;

    /// The page router on a real `AppState` (memory-only cache, remote ASR that is never called).
    async fn app(pairs: &[(&str, &str)]) -> Router {
        let mut all = vec![
            ("BIND_ADDR", "127.0.0.1:0"),
            ("LOG_FILE", ""),
            ("ASR_BACKEND", "openai"),
            ("GIGACHAT_ENABLED", "false"),
            ("CACHE_DISK_MAX_MB", "0"),
        ];
        all.extend_from_slice(pairs);
        let config = Config::from_source(&Source::from_pairs(all)).unwrap();
        let app = crate::app::Application::build(config).await.unwrap();
        Router::from(router()).with_state(app.state().clone())
    }

    async fn get(app: &Router, uri: &str, if_none_match: Option<&str>) -> Response {
        let mut req = Request::get(uri);
        if let Some(tag) = if_none_match {
            req = req.header(header::IF_NONE_MATCH, tag);
        }
        app.clone()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap()
    }

    fn header(resp: &Response, name: header::HeaderName) -> &str {
        resp.headers()
            .get(name)
            .map(|v| v.to_str().unwrap())
            .unwrap_or("")
    }

    async fn text(resp: Response) -> String {
        String::from_utf8(to_bytes(resp.into_body(), 1 << 22).await.unwrap().to_vec()).unwrap()
    }

    #[tokio::test]
    async fn index_is_html_with_versioned_assets_and_revalidated() {
        let app = app(&[]).await;
        let resp = get(&app, "/", None).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(
            header(&resp, header::CONTENT_TYPE),
            "text/html; charset=utf-8"
        );
        assert_eq!(header(&resp, header::CACHE_CONTROL), "no-cache");
        assert!(header(&resp, header::CONTENT_SECURITY_POLICY).contains("script-src 'self'"));
        let etag = header(&resp, header::ETAG).to_string();
        let html = text(resp).await;
        assert!(
            !html.contains(VERSION_PLACEHOLDER),
            "placeholder left in the page"
        );
        let v = ASSET_VERSION.as_str();
        assert!(html.contains(&format!("/static/app.js?v={v}")));
        assert!(html.contains(&format!("/static/style.css?v={v}")));

        let again = get(&app, "/", Some(&etag)).await;
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        assert!(text(again).await.is_empty());
    }

    #[tokio::test]
    async fn page_uses_no_external_resources() {
        // Works offline: nothing is fetched from another origin.
        for body in std::iter::once(INDEX_TEMPLATE).chain(ASSETS.iter().map(|a| a.body)) {
            for needle in [
                "http://",
                "https://",
                "//cdn",
                "@import",
                "fonts.googleapis",
            ] {
                let hits: Vec<&str> = body
                    .lines()
                    .filter(|l| l.contains(needle) && !l.contains("www.w3.org/2000/svg"))
                    .collect();
                assert!(hits.is_empty(), "external reference {needle:?}: {hits:?}");
            }
        }
    }

    #[tokio::test]
    async fn assets_have_their_content_types_and_cache_rules() {
        let app = app(&[]).await;
        let v = ASSET_VERSION.as_str();
        for (name, ctype) in [
            ("app.js", "text/javascript; charset=utf-8"),
            ("style.css", "text/css; charset=utf-8"),
            ("favicon.svg", "image/svg+xml"),
        ] {
            let resp = get(&app, &format!("/static/{name}?v={v}"), None).await;
            assert_eq!(resp.status(), StatusCode::OK, "{name}");
            assert_eq!(header(&resp, header::CONTENT_TYPE), ctype, "{name}");
            assert_eq!(header(&resp, header::CACHE_CONTROL), IMMUTABLE_CACHE);
            assert_eq!(header(&resp, header::X_CONTENT_TYPE_OPTIONS), "nosniff");
            assert!(!text(resp).await.is_empty());

            // An unversioned or stale URL must not be pinned.
            let stale = get(&app, &format!("/static/{name}?v=old"), None).await;
            assert_eq!(header(&stale, header::CACHE_CONTROL), "no-cache");
            let etag = header(&stale, header::ETAG).to_string();
            let revalidated = get(&app, &format!("/static/{name}"), Some(&etag)).await;
            assert_eq!(revalidated.status(), StatusCode::NOT_MODIFIED);
        }
    }

    #[tokio::test]
    async fn unknown_asset_is_404_and_no_path_escapes() {
        let app = app(&[]).await;
        for uri in [
            "/static/nope.js",
            "/static/..%2FCargo.toml",
            "/static/index.html",
        ] {
            let resp = get(&app, uri, None).await;
            assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{uri}");
        }
    }

    #[tokio::test]
    async fn config_reports_the_configured_limits() {
        let app = app(&[
            ("MAX_FILE_SIZE_MB", "2.5"),
            ("MAX_AUDIO_DURATION_SEC", "90"),
        ])
        .await;
        let resp = get(&app, "/api/config", None).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(header(&resp, header::CACHE_CONTROL), "no-store");
        let cfg: PageConfig = serde_json::from_str(&text(resp).await).unwrap();
        assert_eq!(cfg.max_file_size_bytes, (2.5 * 1024.0 * 1024.0) as u64);
        assert_eq!(cfg.max_audio_duration_sec, 90.0);
        assert_eq!(cfg.languages, ["auto", "ru", "en"]);
    }
}
