//! Which sidecar JSON describes which media file (archives.md §4.3).
//!
//! Google names a sidecar after the media's name at upload time, then cuts, indexes and
//! renames both sides in ways that no longer line up. Every function here works on
//! NFC-normalized names (macOS unpacks to NFD) and says which [`Rule`] paired a file, so
//! that tests can check each rule on the real name shapes.

use unicode_normalization::UnicodeNormalization;

/// The word the late-2024 naming puts between the media name and `.json`.
pub const SUPPLEMENTAL: &str = "supplemental-metadata";

/// Google cuts `<name>[.supplemental-metadata]` to this many UTF-16 code units before `.json`.
const SIDECAR_CUT: usize = 46;
/// …and media names to this many before their extension.
const MEDIA_CUT: usize = 47;

/// The localized suffixes of edited copies (GPTH `extras.dart`, immich-go docs), lowercase.
/// `-effects`, `-smile` and `-mix` are Google's automatic creations, named the same way.
pub const EDITED_SUFFIXES: &[&str] = &[
    "-edited",
    "-bearbeitet",
    "-modifié",
    "-modificato",
    "-bewerkt",
    "-editado",
    "-ha editado",
    "-editat",
    "-edytowane",
    "-編集済み",
    "-effects",
    "-smile",
    "-mix",
];

/// How a media file found the sidecar that describes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rule {
    /// `X.jpg` ↔ `X.jpg.json` or `X.jpg.supplemental-metadata.json`.
    Exact,
    /// `X(1).jpg` ↔ `X.jpg(1).json` or `X.jpg.supplemental-metadata(1).json`.
    Duplicate,
    /// The sidecar name was cut to 46 code units (`X.jpg.supple.json`, `X..json`,
    /// `X.j.json`), or the media name to 47 before its extension.
    Truncated,
    /// `X-edited.jpg` (or a localized suffix, maybe itself cut) uses the sidecar of `X.jpg`.
    Edited,
    /// `X~2.jpg` uses the sidecar of `X.jpg`.
    Tilde,
    /// `20030616.jpg` ↔ `20030616.json`: uploaded without an extension.
    ExtensionAdded,
    /// The video half of a live or motion photo uses the photo's sidecar.
    LivePhoto,
    /// `X(N).jpg` with an unindexed `X.jpg….json` and no `X.jpg` beside it (immich#30319).
    UnindexedDuplicate,
}

/// NFC form of a name; every comparison here is between NFC names.
pub fn nfc(s: &str) -> String {
    s.nfc().collect()
}

fn utf16_len(s: &str) -> usize {
    s.encode_utf16().count()
}

/// Splits `X(12)` into `X` and 12. `None` when there is no index.
pub fn split_dup(s: &str) -> (&str, Option<u32>) {
    let Some(inner) = s.strip_suffix(')') else {
        return (s, None);
    };
    let Some((before, digits)) = inner.rsplit_once('(') else {
        return (s, None);
    };
    if before.is_empty() || digits.is_empty() || digits.len() > 6 {
        return (s, None);
    }
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return (s, None);
    }
    match digits.parse() {
        Ok(n) => (before, Some(n)),
        Err(_) => (s, None),
    }
}

/// Splits a file name into stem and extension at the last dot (no extension when the dot
/// starts or ends the name).
pub fn split_ext(name: &str) -> (&str, Option<&str>) {
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && !ext.is_empty() => (stem, Some(ext)),
        _ => (name, None),
    }
}

fn join(stem: &str, ext: Option<&str>) -> String {
    match ext {
        Some(ext) => format!("{stem}.{ext}"),
        None => stem.to_owned(),
    }
}

/// A sidecar file name taken apart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SidecarName {
    /// The name without `.json` and its duplicate index: the (maybe cut) media name, maybe
    /// followed by `.supplemental-metadata` or a prefix of it.
    pub raw: String,
    /// `raw` without a trailing `.supplemental-metadata` or prefix of it, and whether the
    /// whole word was there.
    pub stripped: Option<(String, bool)>,
    pub dup: Option<u32>,
}

impl SidecarName {
    /// `None` when the name does not end in `.json`.
    pub fn parse(name: &str) -> Option<SidecarName> {
        let name = nfc(name);
        let len = name.len().checked_sub(5)?;
        if !name.is_char_boundary(len) || !name[len..].eq_ignore_ascii_case(".json") {
            return None;
        }
        let (stem, mut dup) = split_dup(&name[..len]);
        let mut raw = stem.to_owned();
        let mut stripped = None;
        if let Some((before, segment)) = stem.rsplit_once('.')
            && SUPPLEMENTAL.starts_with(segment)
            && !before.is_empty()
        {
            // GPTH Neo has also seen the index before the word: `X.HEIC(1).supplemental-metadata.json`.
            let (before, inner) = split_dup(before);
            if dup.is_none() && inner.is_some() {
                dup = inner;
                raw = format!("{before}.{segment}");
            }
            stripped = Some((before.to_owned(), segment == SUPPLEMENTAL));
        }
        Some(SidecarName { raw, stripped, dup })
    }

    /// Whether this sidecar describes a media file uploaded as `original` (index `dup`):
    /// `Exact` or `Truncated`.
    fn fits(&self, original: &str, dup: Option<u32>) -> Option<Rule> {
        if self.dup != dup {
            return None;
        }
        if self.raw == original {
            return Some(Rule::Exact);
        }
        if let Some((stripped, whole)) = &self.stripped
            && stripped == original
        {
            return Some(if *whole { Rule::Exact } else { Rule::Truncated });
        }
        // The cut went into the media name itself (`X.j.json`, `X..json`, or a media name
        // already cut to 47 whose sidecar is cut to 46).
        let cut = &self.raw;
        if cut.len() < original.len()
            && original.starts_with(cut.as_str())
            && (utf16_len(cut) == SIDECAR_CUT || cut.chars().count() == SIDECAR_CUT)
        {
            return Some(Rule::Truncated);
        }
        None
    }
}

/// The sidecar among `sidecars` for media uploaded as `original`: exact fits first.
fn find(sidecars: &[SidecarName], original: &str, dup: Option<u32>) -> Option<(usize, Rule)> {
    let mut truncated = None;
    for (i, sidecar) in sidecars.iter().enumerate() {
        match sidecar.fits(original, dup) {
            Some(Rule::Exact) => return Some((i, Rule::Exact)),
            Some(rule) if truncated.is_none() => truncated = Some((i, rule)),
            _ => {}
        }
    }
    truncated
}

fn find_exact(sidecars: &[SidecarName], original: &str, dup: Option<u32>) -> Option<usize> {
    sidecars
        .iter()
        .position(|s| s.fits(original, dup) == Some(Rule::Exact))
}

/// The sidecar (index into `sidecars`, all from the media's folder) describing the media file
/// `media`, by the rules of §4.3 that need no other media file. Live photos and unindexed
/// duplicates need the folder's other files: see [`live_photo_of`] and
/// [`unindexed_duplicate`].
pub fn match_sidecar(media: &str, sidecars: &[SidecarName]) -> Option<(usize, Rule)> {
    let media = nfc(media);
    let (stem, ext) = split_ext(&media);
    if let (base, Some(n)) = split_dup(stem) {
        // `X(1).jpg` is the second `X.jpg`: only an index-1 sidecar will do, never `X.jpg.json`.
        let original = join(base, ext);
        if let Some((i, _)) = find(sidecars, &original, Some(n)) {
            return Some((i, Rule::Duplicate));
        }
        // A name that really ends in `(1)` has its own sidecar, exactly.
        return find_exact(sidecars, &media, None).map(|i| (i, Rule::Exact));
    }
    if let Some(hit) = find(sidecars, &media, None) {
        return Some(hit);
    }
    if let Some(base) = strip_edited(stem)
        && let Some((i, _)) = find(sidecars, &join(base, ext), None)
    {
        return Some((i, Rule::Edited));
    }
    if let Some((base, _)) = stem.rsplit_once('~')
        && !base.is_empty()
        && stem[base.len() + 1..].bytes().all(|b| b.is_ascii_digit())
        && let Some((i, _)) = find(sidecars, &join(base, ext), None)
    {
        return Some((i, Rule::Tilde));
    }
    if ext.is_some()
        && let Some(i) = find_exact(sidecars, stem, None)
    {
        return Some((i, Rule::ExtensionAdded));
    }
    None
}

/// `X(N).jpg` whose only sidecar is the unindexed one of `X.jpg`, when no `X.jpg` sits in
/// the same folder to claim it (`others`: the folder's media names).
pub fn unindexed_duplicate(
    media: &str,
    sidecars: &[SidecarName],
    others: &[String],
) -> Option<(usize, Rule)> {
    let media = nfc(media);
    let (stem, ext) = split_ext(&media);
    let (base, Some(_)) = split_dup(stem) else {
        return None;
    };
    let original = join(base, ext);
    if others.iter().any(|o| nfc(o) == original) {
        return None;
    }
    find(sidecars, &original, None).map(|(i, _)| (i, Rule::UnindexedDuplicate))
}

/// The stem without a (localized, maybe cut) edited suffix.
pub fn strip_edited(stem: &str) -> Option<&str> {
    let chars: Vec<(usize, char)> = stem.char_indices().collect();
    let ends_with = |suffix: &str| -> Option<usize> {
        let n = suffix.chars().count();
        let start = chars.len().checked_sub(n)?;
        let (at, _) = *chars.get(start)?;
        (stem[at..].to_lowercase() == suffix && at > 0).then_some(at)
    };
    for suffix in EDITED_SUFFIXES {
        if let Some(at) = ends_with(suffix) {
            return Some(&stem[..at]);
        }
    }
    // A stem cut to 47 may end in the first letters of the suffix (`-ha edit`).
    if utf16_len(stem) == MEDIA_CUT || chars.len() == MEDIA_CUT {
        for suffix in EDITED_SUFFIXES {
            let letters: Vec<char> = suffix.chars().collect();
            for n in (3..letters.len()).rev() {
                let prefix: String = letters.iter().take(n).collect();
                if let Some(at) = ends_with(&prefix) {
                    return Some(&stem[..at]);
                }
            }
        }
    }
    None
}

const LIVE_PHOTO_EXTS: &[&str] = &["heic", "heif", "jpg", "jpeg"];
const LIVE_VIDEO_EXTS: &[&str] = &["mov", "mp4", "mp"];

/// The photo (index into `photos`, the photo names of the same folder) whose live or motion
/// video is `video`: `IMG.HEIC` + `IMG.MOV`/`.MP4`, `MVIMG_x.jpg` + extension-less `MVIMG_x`,
/// `PXL_x.MP.jpg` + `PXL_x.MP`.
pub fn live_photo_of(video: &str, photos: &[String]) -> Option<usize> {
    let video = nfc(video);
    let (vstem, vext) = split_ext(&video);
    let video_like = match vext {
        None => true,
        Some(ext) => LIVE_VIDEO_EXTS.iter().any(|e| ext.eq_ignore_ascii_case(e)),
    };
    if !video_like {
        return None;
    }
    photos.iter().position(|photo| {
        let photo = nfc(photo);
        let (pstem, pext) = split_ext(&photo);
        let photo_like =
            pext.is_some_and(|ext| LIVE_PHOTO_EXTS.iter().any(|e| ext.eq_ignore_ascii_case(e)));
        photo_like && (pstem == vstem || pstem == video)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<SidecarName> {
        list.iter()
            .map(|n| SidecarName::parse(n).expect("a .json name"))
            .collect()
    }

    /// The sidecar name and rule `media` pairs with among `sidecars`.
    fn pair<'a>(media: &str, sidecars: &[&'a str]) -> Option<(&'a str, Rule)> {
        let parsed = names(sidecars);
        match_sidecar(media, &parsed).map(|(i, rule)| (sidecars[i], rule))
    }

    #[test]
    fn exact_in_both_namings() {
        let side = ["PXL_20231006_063000139.jpg.json"];
        assert_eq!(
            pair("PXL_20231006_063000139.jpg", &side),
            Some((side[0], Rule::Exact))
        );
        let side = ["IMG_3397.JPG.supplemental-metadata.json"];
        assert_eq!(pair("IMG_3397.JPG", &side), Some((side[0], Rule::Exact)));
        // Uploaded without an extension.
        assert_eq!(
            pair("20030616", &["20030616.json"]),
            Some(("20030616.json", Rule::Exact))
        );
        assert_eq!(
            pair("20030616.jpg", &["20030616.json"]),
            Some(("20030616.json", Rule::ExtensionAdded))
        );
        assert_eq!(
            pair("IMG_1.jpg", &["IMG_2.jpg.json", "metadata.json"]),
            None
        );
    }

    #[test]
    fn duplicate_index_goes_before_json() {
        let side = [
            "IMG_3479.JPG.json",
            "IMG_3479.JPG(1).json",
            "DSC_0238_1.JPG.json",
        ];
        assert_eq!(pair("IMG_3479.JPG", &side), Some((side[0], Rule::Exact)));
        assert_eq!(
            pair("IMG_3479(1).JPG", &side),
            Some((side[1], Rule::Duplicate))
        );
        assert_eq!(pair("DSC_0238_1.JPG", &side), Some((side[2], Rule::Exact)));
        let side = [
            "Scan35.jpg.supplemental-metadata.json",
            "Scan35.jpg.supplemental-metadata(1).json",
        ];
        assert_eq!(
            pair("Scan35(1).jpg", &side),
            Some((side[1], Rule::Duplicate))
        );
        // GPTH Neo's other placement.
        let side = ["IMG_2367.HEIC(1).supplemental-metadata.json"];
        assert_eq!(
            pair("IMG_2367(1).HEIC", &side),
            Some((side[0], Rule::Duplicate))
        );
    }

    #[test]
    fn never_pairs_an_indexed_copy_with_the_unindexed_sidecar() {
        assert_eq!(pair("IMG_3479(1).JPG", &["IMG_3479.JPG.json"]), None);
        assert_eq!(
            pair(
                "Scan35(2).jpg",
                &["Scan35.jpg.supplemental-metadata(1).json"]
            ),
            None
        );
        // Except as the last resort, when no `X.jpg` is there to claim it (immich#30319).
        let side = names(&["2025-04-28.jpg.supplemental-metadata.json"]);
        let others = vec!["2025-04-28(3516).jpg".to_owned()];
        assert_eq!(
            unindexed_duplicate("2025-04-28(3516).jpg", &side, &others),
            Some((0, Rule::UnindexedDuplicate))
        );
        let others = vec![
            "2025-04-28(3516).jpg".to_owned(),
            "2025-04-28.jpg".to_owned(),
        ];
        assert_eq!(
            unindexed_duplicate("2025-04-28(3516).jpg", &side, &others),
            None
        );
        // A name that really ends in an index keeps its own sidecar.
        let side = ["Foo(1).jpg.json", "Foo.jpg.json"];
        assert_eq!(pair("Foo(1).jpg", &side), Some((side[0], Rule::Exact)));
    }

    #[test]
    fn sidecar_names_cut_to_46() {
        let cases = [
            (
                "MVIMG_20191230_232926.jpg",
                "MVIMG_20191230_232926.jpg.supplemental-metadat.json",
            ),
            (
                "Screenshot_20231027_123303_Facebook.jpg",
                "Screenshot_20231027_123303_Facebook.jpg.supple.json",
            ),
            (
                "alignment-temple-5D-32-temple-V-reconstructed.jpg",
                "alignment-temple-5D-32-temple-V-reconstructed..json",
            ),
            (
                "13039_3277078403_537990323_4577463_2781474_n.jpg",
                "13039_3277078403_537990323_4577463_2781474_n.j.json",
            ),
            ("IMG_0001.jpg", "IMG_0001.jpg.s.json"),
            ("IMG_0001.jpg", "IMG_0001.jpg..json"),
            // The media name cut to 47 before its extension, the sidecar to 46.
            (
                "PXL_20230809_203449253.LONG_EXPOSURE-02.ORIGINA.jpg",
                "PXL_20230809_203449253.LONG_EXPOSURE-02.ORIGIN.json",
            ),
        ];
        for (media, sidecar) in cases {
            assert_eq!(
                pair(media, &[sidecar, "unrelated.jpg.json"]),
                Some((sidecar, Rule::Truncated)),
                "{media}"
            );
        }
        // A cut must be 46 long: a shorter prefix is another file's name.
        assert_eq!(pair("IMG_0001.jpg", &["IMG_00.json"]), None);
    }

    #[test]
    fn cut_counts_utf16_code_units() {
        // Each emoji is two code units: 21 emoji + "ab.jpg" cut to 46 units keeps "ab.j".
        let title = format!("{}ab.jpg", "😀".repeat(21));
        let cut = format!("{}ab.j.json", "😀".repeat(21));
        assert_eq!(utf16_len(&cut) - 5, 46);
        assert_eq!(pair(&title, &[&cut]), Some((cut.as_str(), Rule::Truncated)));
    }

    #[test]
    fn duplicate_and_cut_together() {
        let media = "PXL_20230809_203449253.LONG_EXPOSURE-02.ORIGINA(1).jpg";
        let side = [
            "PXL_20230809_203449253.LONG_EXPOSURE-02.ORIGIN.json",
            "PXL_20230809_203449253.LONG_EXPOSURE-02.ORIGIN(1).json",
        ];
        assert_eq!(pair(media, &side), Some((side[1], Rule::Duplicate)));
    }

    #[test]
    fn edited_copies_use_the_original_sidecar() {
        for (media, sidecar) in [
            ("IMG_1000-edited.jpg", "IMG_1000.jpg.json"),
            (
                "IMG_1000-bearbeitet.jpg",
                "IMG_1000.jpg.supplemental-metadata.json",
            ),
            ("IMG_1000-modifié.jpg", "IMG_1000.jpg.json"),
            ("IMG_1000-EDITED.jpg", "IMG_1000.jpg.json"),
            ("IMG_1000-編集済み.jpg", "IMG_1000.jpg.json"),
            (
                "IMG_1000-ha editado.jpg",
                "IMG_1000.jpg.supplemental-met.json",
            ),
        ] {
            assert_eq!(
                pair(media, &[sidecar]),
                Some((sidecar, Rule::Edited)),
                "{media}"
            );
        }
        // The suffix itself cut by the 47 limit.
        let base = "Very_long_holiday_picture_name_2019_000"; // 39
        let media = format!("{base}-ha edit.jpg"); // 47 before the extension
        let sidecar = format!("{base}.jpg.json");
        assert_eq!(
            pair(&media, &[&sidecar]),
            Some((sidecar.as_str(), Rule::Edited))
        );
        // The original keeps its own sidecar.
        assert_eq!(
            pair("IMG_1000.jpg", &["IMG_1000.jpg.json"]),
            Some(("IMG_1000.jpg.json", Rule::Exact))
        );
    }

    #[test]
    fn tilde_copies() {
        assert_eq!(
            pair("IMG_0042~2.jpg", &["IMG_0042.jpg.json"]),
            Some(("IMG_0042.jpg.json", Rule::Tilde))
        );
        assert_eq!(
            pair(
                "IMG_0042~2.jpg",
                &["IMG_0042.jpg.json", "IMG_0042~2.jpg.json"]
            ),
            Some(("IMG_0042~2.jpg.json", Rule::Exact))
        );
    }

    #[test]
    fn nfd_names_match_nfc_sidecars() {
        let nfd: String = "Gdańsk.jpg".nfd().collect();
        assert_ne!(nfd, "Gdańsk.jpg");
        assert_eq!(
            pair(&nfd, &["Gdańsk.jpg.json"]),
            Some(("Gdańsk.jpg.json", Rule::Exact))
        );
        let nfd_sidecar: String = "Gdańsk.jpg.supplemental-metadata.json".nfd().collect();
        assert_eq!(
            pair("Gdańsk.jpg", &[&nfd_sidecar]),
            Some((nfd_sidecar.as_str(), Rule::Exact))
        );
    }

    #[test]
    fn live_photo_partners() {
        let photos: Vec<String> = [
            "IMG_1234.HEIC",
            "MVIMG_20191230_232926.jpg",
            "PXL_20220101_101010101.MP.jpg",
            "IMG_0769(1).HEIC",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(live_photo_of("IMG_1234.MOV", &photos), Some(0));
        assert_eq!(live_photo_of("IMG_1234.mp4", &photos), Some(0));
        assert_eq!(live_photo_of("MVIMG_20191230_232926", &photos), Some(1));
        assert_eq!(live_photo_of("PXL_20220101_101010101.MP", &photos), Some(2));
        assert_eq!(live_photo_of("IMG_0769(1).mp4", &photos), Some(3));
        assert_eq!(live_photo_of("IMG_9999.MOV", &photos), None);
        assert_eq!(live_photo_of("IMG_1234.webm", &photos), None);
    }

    #[test]
    fn parses_sidecar_names() {
        assert_eq!(SidecarName::parse("metadata.txt"), None);
        assert_eq!(SidecarName::parse("json"), None);
        let s = SidecarName::parse("X.jpg.supplemental-metadata(2).JSON").expect("json");
        assert_eq!(s.dup, Some(2));
        assert_eq!(s.stripped, Some(("X.jpg".into(), true)));
        assert_eq!(split_dup("(1)"), ("(1)", None));
        assert_eq!(split_dup("a(x)"), ("a(x)", None));
        assert_eq!(split_ext(".hidden"), (".hidden", None));
    }
}
