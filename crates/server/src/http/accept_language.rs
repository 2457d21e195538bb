//! The request's `Accept-Language`, as the primary subtags a flow can
//! match posts by, most preferred first.

use std::sync::Arc;

use axum::http::{HeaderMap, header};
use feedmixer_atproto::{is_language_tag, primary_language};

/// Most languages taken from one header: a client names a handful.
const MAX_LANGUAGES: usize = 8;

/// Primary subtags of the header's ranges, by quality (highest first,
/// ties in header order), without repeats; `*`, ranges with `q=0` and
/// ranges that are no language tag are left out. No header (or an
/// unreadable one): empty.
pub fn accept_languages(headers: &HeaderMap) -> Arc<[String]> {
    let Some(value) = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
    else {
        return Arc::from([]);
    };
    let mut ranges: Vec<(f32, usize, String)> = value
        .split(',')
        .enumerate()
        .filter_map(|(order, range)| {
            let mut parts = range.split(';');
            let tag = parts.next()?.trim();
            let quality = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .map_or(Some(1.0), |q| q.trim().parse::<f32>().ok())?;
            let subtag = primary_language(tag);
            (is_language_tag(tag) && quality > 0.0).then_some((quality, order, subtag))
        })
        .collect();
    ranges.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut languages: Vec<String> = Vec::new();
    for (_, _, subtag) in ranges {
        if !languages.contains(&subtag) && languages.len() < MAX_LANGUAGES {
            languages.push(subtag);
        }
    }
    languages.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(value: &str) -> Vec<String> {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT_LANGUAGE, value.parse().unwrap());
        accept_languages(&headers).to_vec()
    }

    #[test]
    fn by_quality_then_order_primary_subtags_once() {
        assert_eq!(parse("nb-NO,nb;q=0.9,en;q=0.8,*;q=0.5"), ["nb", "en"]);
        assert_eq!(parse("en;q=0.2, se , nn;q=0.7"), ["se", "nn", "en"]);
        assert_eq!(parse("fr;q=0, de;q=x, 12, pt-BR"), ["pt"]);
        assert!(parse("").is_empty());
        assert!(accept_languages(&HeaderMap::new()).is_empty());
    }
}
