//! Google Photos' JSON files: media sidecars and album metadata (archives.md §4.2), told
//! apart by content. Google writes proper UTF-8: no mojibake repair here.

use ferry_core::model::{Location, Timestamp};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// Epoch seconds as Google writes them (a string), or as a number; `"0"` means unknown.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Epoch(pub Option<i64>);

impl<'de> Deserialize<'de> for Epoch {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Epoch, D::Error> {
        let seconds = match Value::deserialize(d)? {
            Value::String(s) => s.trim().parse::<i64>().ok(),
            Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
            _ => None,
        };
        Ok(Epoch(seconds.filter(|&s| s != 0)))
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Time {
    pub timestamp: Epoch,
}

impl Time {
    fn at(this: &Option<Time>) -> Option<Timestamp> {
        this.as_ref()?.timestamp.0.and_then(Timestamp::from_unix)
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Geo {
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub altitude: Option<f64>,
}

impl Geo {
    /// `0.0, 0.0` is Google's "no location".
    fn location(this: &Option<Geo>) -> Option<Location> {
        let geo = this.as_ref()?;
        let (latitude, longitude) = (geo.latitude?, geo.longitude?);
        let valid = latitude.is_finite()
            && longitude.is_finite()
            && latitude.abs() <= 90.0
            && longitude.abs() <= 180.0;
        if !valid || (latitude == 0.0 && longitude == 0.0) {
            return None;
        }
        Some(Location {
            altitude: geo.altitude.filter(|a| a.is_finite() && *a != 0.0),
            ..Location::at(latitude, longitude)
        })
    }
}

/// One media file's sidecar.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Sidecar {
    pub title: Option<String>,
    pub description: Option<String>,
    pub photo_taken_time: Option<Time>,
    pub creation_time: Option<Time>,
    pub photo_last_modified_time: Option<Time>,
    pub geo_data: Option<Geo>,
    pub geo_data_exif: Option<Geo>,
    pub trashed: Option<bool>,
}

impl Sidecar {
    /// Taken time, else upload time, else last modification.
    pub fn taken(&self) -> Option<Timestamp> {
        Time::at(&self.photo_taken_time)
            .or_else(|| Time::at(&self.creation_time))
            .or_else(|| Time::at(&self.photo_last_modified_time))
    }

    pub fn uploaded(&self) -> Option<Timestamp> {
        Time::at(&self.creation_time)
    }

    /// The user-edited place first, then the camera's.
    pub fn location(&self) -> Option<Location> {
        Geo::location(&self.geo_data).or_else(|| Geo::location(&self.geo_data_exif))
    }

    pub fn caption(&self) -> Option<String> {
        non_empty(&self.description)
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct AlbumMeta {
    pub title: Option<String>,
    pub description: Option<String>,
    pub date: Option<Time>,
    pub geo_data: Option<Geo>,
    pub enrichments: Vec<Value>,
}

impl AlbumMeta {
    pub fn title(&self) -> Option<String> {
        non_empty(&self.title)
    }

    pub fn description(&self) -> Option<String> {
        non_empty(&self.description)
    }

    pub fn created(&self) -> Option<Timestamp> {
        Time::at(&self.date)
    }

    /// The album's own place, else the first place the user added to it.
    pub fn location(&self) -> Option<Location> {
        if let Some(found) = Geo::location(&self.geo_data) {
            return Some(found);
        }
        self.enrichments.iter().find_map(|e| {
            let place = e.get("locationEnrichment")?.get("location")?.get(0)?;
            let e7 = |key: &str| place.get(key)?.as_f64().map(|v| v / 1e7);
            let found = Geo::location(&Some(Geo {
                latitude: e7("latitudeE7"),
                longitude: e7("longitudeE7"),
                altitude: None,
            }))?;
            let name = place.get("name").and_then(Value::as_str).map(str::trim);
            Some(Location {
                name: name.filter(|n| !n.is_empty()).map(str::to_owned),
                ..found
            })
        })
    }
}

fn non_empty(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// What a JSON file of a Google Photos folder is.
#[derive(Debug)]
pub enum Kind {
    Sidecar(Box<Sidecar>),
    Album(AlbumMeta),
    /// Print orders, shared-album comments, memory titles and anything else.
    Other,
}

/// Classifies a parsed JSON file by its keys (archives.md §5.1). `file_name` tells a thin
/// album file (`metadata.json`, `Metadaten.json`: no dot before `.json`) from a thin sidecar
/// (`X.jpg.json`). Errors are one-line reasons.
pub fn classify(value: Value, file_name: &str) -> Result<Kind, String> {
    let Value::Object(map) = value else {
        return Ok(Kind::Other);
    };
    if let Some(inner) = map.get("albumData") {
        return serde_json::from_value(inner.clone())
            .map(Kind::Album)
            .map_err(|e| format!("unreadable album metadata ({e})"));
    }
    if !map.contains_key("title") {
        return Ok(Kind::Other);
    }
    let sidecar_like = map.contains_key("photoTakenTime")
        || (map.contains_key("creationTime")
            && !map.contains_key("date")
            && !map.contains_key("access"));
    let value = Value::Object(map);
    if sidecar_like {
        return serde_json::from_value(value)
            .map(|s| Kind::Sidecar(Box::new(s)))
            .map_err(|e| format!("unreadable photo metadata ({e})"));
    }
    let stem = file_name
        .get(..file_name.len().saturating_sub(5))
        .unwrap_or(file_name);
    if stem.contains('.') {
        return Ok(Kind::Other);
    }
    serde_json::from_value(value)
        .map(Kind::Album)
        .map_err(|e| format!("unreadable album metadata ({e})"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn kind(v: Value, name: &str) -> Kind {
        classify(v, name).expect("readable")
    }

    #[test]
    fn tells_sidecars_albums_and_junk_apart() {
        let side = json!({"title": "a.jpg", "photoTakenTime": {"timestamp": "0"},
            "creationTime": {"timestamp": 1_697_872_351}, "geoData": {"latitude": 0.0, "longitude": 0.0},
            "geoDataExif": {"latitude": 48.5, "longitude": 2.25, "altitude": 0.0}});
        let Kind::Sidecar(s) = kind(side, "a.jpg.json") else {
            panic!("a sidecar")
        };
        assert_eq!(
            s.taken().map(|t| t.utc.unix_timestamp()),
            Some(1_697_872_351)
        );
        assert_eq!(s.location().and_then(|l| l.latitude), Some(48.5));
        assert!(matches!(
            kind(json!({"albumData": {"title": "Trip", "date": {"timestamp": "0"}}}), "metadata.json"),
            Kind::Album(a) if a.title().as_deref() == Some("Trip") && a.created().is_none()
        ));
        assert!(matches!(
            kind(json!({"title": "basement"}), "Metadaten.json"),
            Kind::Album(_)
        ));
        assert!(matches!(
            kind(json!({"title": "x.jpg"}), "x.jpg.json"),
            Kind::Other
        ));
        let print = json!({"externalOrderId": "1", "type": "PURCHASED", "creationTime": {"timestamp": "1"}});
        assert!(matches!(kind(print, "print-order.json"), Kind::Other));
        assert!(matches!(kind(json!([1, 2]), "x.json"), Kind::Other));
        assert!(classify(json!({"title": 5, "photoTakenTime": {}}), "x.jpg.json").is_err());
    }

    #[test]
    fn album_place_from_enrichments() {
        let meta: AlbumMeta = serde_json::from_value(json!({"title": "T",
            "geoData": {"latitude": 0.0, "longitude": 0.0},
            "enrichments": [{"narrativeEnrichment": {"text": "x"}},
                {"locationEnrichment": {"location": [{"name": "Gdańsk", "latitudeE7": 543_520_000, "longitudeE7": 186_466_000}]}}]}))
        .expect("album");
        let place = meta.location().expect("a place");
        assert!((place.latitude.unwrap() - 54.352).abs() < 1e-9);
        assert_eq!(place.name.as_deref(), Some("Gdańsk"));
    }
}
