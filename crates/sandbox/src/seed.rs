//! The deterministic generator of seeded accounts: the same seed and counts give the
//! same albums, photos, videos, ids, captions, dates and places. Media bytes are
//! produced on demand (from seed + id), never stored.

use crate::SandboxOptions;
use crate::util::Rng;

#[derive(Clone, Debug)]
pub struct Place {
    pub id: String,
    pub name: String,
    pub city: String,
    pub country: String,
    pub street: Option<String>,
    pub zip: Option<String>,
    pub latitude: f64,
    pub longitude: f64,
}

#[derive(Clone, Debug)]
pub struct Album {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub created: i64,
    pub updated: i64,
    pub place: Option<Place>,
    /// Indexes into `World::photos`, newest first (the Graph API's order).
    pub photos: Vec<usize>,
}

#[derive(Clone, Debug)]
pub struct Photo {
    pub id: String,
    pub index: usize,
    pub album: usize,
    /// The Graph API's `name` field (the caption).
    pub caption: Option<String>,
    /// When the picture was taken (EXIF DateTimeOriginal), unix seconds.
    pub taken: i64,
    /// When it was uploaded (`created_time`).
    pub created: i64,
    pub place: Option<Place>,
    pub width: u32,
    pub height: u32,
}

#[derive(Clone, Debug)]
pub struct Video {
    pub id: String,
    pub index: usize,
    pub title: Option<String>,
    pub description: Option<String>,
    pub created: i64,
    pub length_secs: f64,
    pub size: u64,
    pub place: Option<Place>,
}

#[derive(Clone, Debug)]
pub struct Person {
    pub id: String,
    pub name: String,
    pub email: String,
}

/// Everything the generator produces for one seed.
#[derive(Clone, Debug)]
pub struct World {
    pub seed: u64,
    pub facebook: Person,
    pub dropbox: Person,
    pub google: Person,
    pub koofr: Person,
    pub albums: Vec<Album>,
    pub photos: Vec<Photo>,
    pub videos: Vec<Video>,
}

/// The album whose name no Windows file system accepts.
pub const ILLEGAL_ALBUM_NAME: &str = "Trip: \"Paris\"?";

const ALBUM_NAMES: &[&str] = &[
    "Été 2019 ☀️",
    "Family / Família 👨‍👩‍👧",
    "Backyard <birds>",
    "東京 2023",
    "Mountains",
    "Fête de la musique 🎶",
];

const CAPTIONS: &[&str] = &[
    "Café au lait ☕ à Paris",
    "Sunset 🌅 über dem Zürichsee",
    "東京タワー 🗼",
    "Ñandú en la pampa 🐦",
    "Smörgåsbord 🇸🇪",
    "Привет из Москвы",
    "Plain ASCII caption",
    "Ünïcödé and emoji 😀🎉",
];

fn places() -> Vec<Place> {
    let p = |id: &str, name: &str, city: &str, country: &str, lat: f64, lon: f64| Place {
        id: id.to_string(),
        name: name.to_string(),
        city: city.to_string(),
        country: country.to_string(),
        street: None,
        zip: None,
        latitude: lat,
        longitude: lon,
    };
    vec![
        p(
            "110774245616525",
            "Tour Eiffel",
            "Paris",
            "France",
            48.858222,
            2.2945,
        ),
        p(
            "111592028860559",
            "Montréal, Québec",
            "Montréal",
            "Canada",
            45.5017,
            -73.5673,
        ),
        p(
            "108094265891015",
            "東京タワー",
            "Tokyo",
            "Japan",
            35.658581,
            139.745433,
        ),
        p(
            "112047398814697",
            "São Paulo",
            "São Paulo",
            "Brazil",
            -23.55052,
            -46.633308,
        ),
        p(
            "106090002758880",
            "Reykjavík",
            "Reykjavík",
            "Iceland",
            64.146582,
            -21.942635,
        ),
    ]
}

impl World {
    pub fn generate(opts: &SandboxOptions) -> World {
        let mut rng = Rng::new(opts.seed);
        let places = places();
        // Facebook ids are numeric strings; keep them distinct by construction.
        let base = 10_150_000_000_000_000u64 + (opts.seed % 1_000_000) * 1_000_000_000;
        let mut next_id = {
            let mut n = 0u64;
            move |rng: &mut Rng| {
                n += 1 + rng.below(997);
                (base + n * 1000 + rng.below(1000)).to_string()
            }
        };
        // 2015-01-01T00:00:00Z plus up to ~8 years.
        let epoch = 1_420_070_400i64;

        let facebook = Person {
            id: next_id(&mut rng),
            name: "Zoë Ångström-Nakamura".into(),
            email: "zoe@sandbox.example".into(),
        };

        let n_albums = opts.albums;
        let mut albums: Vec<Album> = (0..n_albums)
            .map(|i| {
                let name = if i == 0 {
                    ILLEGAL_ALBUM_NAME.to_string()
                } else if i + 1 == n_albums && n_albums >= 2 {
                    "Empty album".to_string()
                } else {
                    let n = ALBUM_NAMES[(i - 1) % ALBUM_NAMES.len()];
                    if i > ALBUM_NAMES.len() {
                        format!("{n} ({i})")
                    } else {
                        n.to_string()
                    }
                };
                let created = epoch + rng.below(8 * 365 * 86_400) as i64;
                Album {
                    id: next_id(&mut rng),
                    description: (i % 2 == 0).then(|| format!("Album n°{} — «{name}»", i + 1)),
                    name,
                    created,
                    updated: created + rng.below(86_400 * 30) as i64,
                    place: (i % 3 == 0).then(|| places[i % places.len()].clone()),
                    photos: Vec::new(),
                }
            })
            .collect();
        // The last album stays empty when there are at least two.
        let filled = if n_albums >= 2 {
            n_albums - 1
        } else {
            n_albums
        };

        let photos: Vec<Photo> = (0..opts.photos)
            .map(|i| {
                // Photos 0 and 1 share an album and a caption: "two photos with the same name".
                let album = if filled == 0 {
                    usize::MAX
                } else {
                    i.saturating_sub(1) % filled
                };
                let caption = match i {
                    0 | 1 => Some("IMG_0001".to_string()),
                    _ if i % 5 == 4 => None,
                    _ => Some(rng.pick(CAPTIONS).to_string()),
                };
                let taken = epoch + rng.below(8 * 365 * 86_400) as i64;
                let (width, height) =
                    *rng.pick(&[(640u32, 480u32), (480, 640), (800, 600), (512, 512)]);
                Photo {
                    id: next_id(&mut rng),
                    index: i,
                    album,
                    caption,
                    taken,
                    created: taken + 3600 + rng.below(86_400 * 3) as i64,
                    place: (i % 4 != 3).then(|| places[i % places.len()].clone()),
                    width,
                    height,
                }
            })
            .collect();
        for p in photos.iter().rev() {
            if let Some(a) = albums.get_mut(p.album) {
                a.photos.push(p.index);
            }
        }
        for a in &mut albums {
            // Newest first, as the Graph API lists edges.
            a.photos
                .sort_by_key(|&i| std::cmp::Reverse((photos[i].created, i)));
        }

        let videos: Vec<Video> = (0..opts.videos)
            .map(|i| {
                let created = epoch + rng.below(8 * 365 * 86_400) as i64;
                Video {
                    id: next_id(&mut rng),
                    index: i,
                    title: (i % 2 == 0).then(|| format!("Vidéo {} 🎬", i + 1)),
                    description: Some(rng.pick(CAPTIONS).to_string()),
                    created,
                    length_secs: 2.0,
                    size: opts.video_size,
                    place: (i % 2 == 1).then(|| places[(i + 2) % places.len()].clone()),
                }
            })
            .collect();

        World {
            seed: opts.seed,
            facebook,
            dropbox: Person {
                id: format!("dbid:AAD{}", rng.alnum(40)),
                name: "Zoë Ångström".into(),
                email: "zoe@sandbox.example".into(),
            },
            google: Person {
                id: format!("1{:019}", rng.next_u64() % 10_000_000_000_000_000_000),
                name: "Zoë Ångström".into(),
                email: "zoe@sandbox.example".into(),
            },
            koofr: Person {
                id: format!(
                    "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
                    rng.next_u64() as u32,
                    rng.next_u64() as u16,
                    rng.below(0x1000),
                    rng.below(0x1000),
                    rng.next_u64() & 0xffff_ffff_ffff
                ),
                name: "Zoë Ångström".into(),
                email: "zoe@sandbox.example".into(),
            },
            albums,
            photos,
            videos,
        }
    }

    pub fn photo(&self, id: &str) -> Option<&Photo> {
        self.photos.iter().find(|p| p.id == id)
    }
    pub fn video(&self, id: &str) -> Option<&Video> {
        self.videos.iter().find(|v| v.id == id)
    }
    pub fn album(&self, id: &str) -> Option<(usize, &Album)> {
        self.albums.iter().enumerate().find(|(_, a)| a.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_world() {
        let o = SandboxOptions::default();
        let a = World::generate(&o);
        let b = World::generate(&o);
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
        let c = World::generate(&SandboxOptions {
            seed: 43,
            ..SandboxOptions::default()
        });
        assert_ne!(a.photos[0].id, c.photos[0].id);
    }

    #[test]
    fn world_has_the_awkward_cases() {
        let w = World::generate(&SandboxOptions::default());
        assert_eq!(w.albums[0].name, ILLEGAL_ALBUM_NAME);
        assert!(w.albums.last().unwrap().photos.is_empty());
        assert_eq!(w.photos[0].caption, w.photos[1].caption);
        assert_eq!(w.photos[0].album, w.photos[1].album);
        let mut ids: Vec<&str> = w.photos.iter().map(|p| p.id.as_str()).collect();
        ids.extend(w.albums.iter().map(|a| a.id.as_str()));
        ids.extend(w.videos.iter().map(|v| v.id.as_str()));
        let n = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), n, "ids are unique");
        assert!(
            w.photos
                .iter()
                .any(|p| p.caption.as_deref().is_some_and(|c| !c.is_ascii()))
        );
    }
}
