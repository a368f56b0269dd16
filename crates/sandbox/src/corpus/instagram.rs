//! Instagram "Download your information" trees (JSON), one per layout era (archives.md §2).

use std::io;
use std::path::Path;

use serde_json::{Value, json};

use super::{Format, Manifest, MediaItem, Tree, mojibake as mj};

/// Instagram layout eras.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Era {
    /// 2018 → ~Dec 2020: `media.json`, `profile.json`, `messages.json`.
    V1,
    /// ~2021: `account_information/`, `content/posts_N.json`, `messages/inbox/`.
    Y2021,
    /// ~2022–2024: `personal_information/`, `your_instagram_activity/content/`.
    Y2022,
    /// 2024/2025+: `personal_information/personal_information/`, `your_instagram_activity/media/`.
    Y2025,
}

impl Era {
    pub const ALL: [Era; 4] = [Era::V1, Era::Y2021, Era::Y2022, Era::Y2025];
    pub fn name(self) -> &'static str {
        match self {
            Era::V1 => "v1-2018",
            Era::Y2021 => "2021",
            Era::Y2022 => "2022",
            Era::Y2025 => "2025",
        }
    }
}

/// Writes an unpacked Instagram export of `era` into `dir`.
pub fn write(dir: &Path, era: Era) -> io::Result<Manifest> {
    let mut t = Tree::new(dir, "instagram", era.name());
    match era {
        Era::V1 => v1(&mut t)?,
        _ => modern(&mut t, era)?,
    }
    Ok(t.finish())
}

fn v1(t: &mut Tree) -> io::Result<()> {
    t.meta_json(
        "profile.json",
        &json!({"biography": mj("Bor i København"), "date_joined": "2015-03-01T10:00:00",
                "email": "me@example.org", "gender": "female", "name": "Me Myself",
                "username": "me.myself", "profile_pic_url": "https://example.org/pic.jpg",
                "private_account": false}),
    )?;
    t.text("Bor i København");
    for (field, value) in [
        ("username", json!("me.myself")),
        ("gender", json!("female")),
        ("private", json!(false)),
    ] {
        t.profile(field, value);
    }
    // taken_at without an offset (early v1) and with +00:00 (later v1): both UTC.
    let photos = [
        (
            "photos/201812/5f1c0e2a9b7d4c3e8a6b1d0f2e3c4b5a.jpg",
            "2018-12-24T18:30:00",
            1_545_676_200,
            "Jul 🎄",
        ),
        (
            "photos/202002/13d89a890b8093993b6ef8ec73c8c4d0.jpg",
            "2020-02-15T04:08:11+00:00",
            1_581_739_691,
            "café au lait ☕",
        ),
    ];
    let mut ph = Vec::new();
    for (i, (path, at, ts, cap)) in photos.iter().enumerate() {
        t.media(path, Format::Jpeg, 100 + i as u64)?;
        t.item(
            MediaItem::new(*path, Format::Jpeg, "post")
                .at(*ts)
                .caption(cap),
        );
        t.text(cap);
        ph.push(json!({"caption": mj(cap), "taken_at": at, "location": mj("Sanford, Florida ☀"), "path": path}));
    }
    // A place by name only: this era gives no coordinates.
    t.text("Sanford, Florida ☀");
    let video = "videos/201906/8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d.mp4";
    t.media(video, Format::Mp4, 110)?;
    t.item(MediaItem::new(video, Format::Mp4, "post").at(1_561_647_313));
    let story = "stories/201907/0a1b2c3d4e5f60718293a4b5c6d7e8f9.jpg";
    t.media(story, Format::Jpeg, 111)?;
    t.item(
        MediaItem::new(story, Format::Jpeg, "story")
            .at(1_562_000_000)
            .caption("på stranden"),
    );
    t.text("på stranden");
    let profile = "profile/201503/ffeeddccbbaa99887766554433221100.jpg";
    t.media(profile, Format::Jpeg, 112)?;
    t.item(MediaItem::new(profile, Format::Jpeg, "profile").at(1_425_204_000));
    let direct = "direct/201810/aa11bb22cc33dd44ee55ff6677889900.mp4";
    t.media(direct, Format::Mp4, 113)?;
    t.item(MediaItem::new(direct, Format::Mp4, "dm").at(1_539_000_000));
    t.meta_json(
        "media.json",
        &json!({"photos": ph,
                "videos": [{"caption": "", "taken_at": "2019-06-27T14:55:13+00:00", "path": video}],
                "profile": [{"caption": "", "taken_at": "2015-03-01T10:00:00", "is_active_profile": true, "path": profile}],
                "stories": [{"caption": mj("på stranden"), "taken_at": "2019-07-01T16:53:20+00:00", "path": story}],
                "direct": [{"taken_at": "2018-10-08T12:00:00+00:00", "path": direct}]}),
    )?;
    t.meta_json(
        "comments.json",
        &json!({"media_comments": [["2018-06-01T10:00:00", mj("flot 😂"), "someuser"]], "live_comments": []}),
    )?;
    t.text("flot 😂");
    t.meta_json(
        "messages.json",
        &json!([{"participants": ["me.myself", "alice"], "conversation": [
            {"sender": "alice", "created_at": "2019-05-01T12:00:03.123456+00:00", "text": mj("hej ❤")},
            {"sender": "me.myself", "created_at": "2019-05-01T12:00:01+00:00", "media_url": "https://example.org/m.jpg"},
            {"sender": "alice", "created_at": "2019-05-01T11:59:30+00:00",
             "media_share_url": "https://scontent.cdninstagram.com/v/shared_example.jpg",
             "media_share_caption": mj("Se lige her 😍"), "media_owner": "bob"},
            {"sender": "alice", "created_at": "2019-05-01T11:59:00", "heart": "❤"}]}]),
    )?;
    t.text("hej ❤");
    t.text("Se lige her 😍");
    t.m.links
        .push("https://scontent.cdninstagram.com/v/shared_example.jpg".into());
    t.count("posts", 3);
    t.count("stories", 1);
    t.count("profile_pictures", 1);
    t.count("threads", 1);
    t.count("messages", 4);
    t.count("comments", 1);
    for q in [
        "ig-v1",
        "place-name-only",
        "dm-media-share",
        "taken_at-no-offset",
        "taken_at-utc-offset",
        "mojibake-values",
    ] {
        t.quirk(q);
    }
    Ok(())
}

fn modern(t: &mut Tree, era: Era) -> io::Result<()> {
    let (profile, content, inbox) = match era {
        Era::Y2021 => (
            "account_information/personal_information.json",
            "content",
            "messages/inbox",
        ),
        Era::Y2022 => (
            "personal_information/personal_information.json",
            "your_instagram_activity/content",
            "messages/inbox",
        ),
        _ => (
            "personal_information/personal_information/personal_information.json",
            "your_instagram_activity/media",
            "your_instagram_activity/messages/inbox",
        ),
    };
    let seed = match era {
        Era::Y2021 => 200,
        Era::Y2022 => 300,
        _ => 400,
    };

    // Profile, with localized (Danish) and mojibake'd keys.
    let pic = "media/other/profile_17890000000000001.jpg";
    t.media(pic, Format::Jpeg, seed)?;
    t.item(MediaItem::new(pic, Format::Jpeg, "profile").at(1_600_000_000));
    t.meta_json(
        profile,
        &json!({"profile_user": [{"title": "Brugeroplysninger",
            "media_map_data": {"Profilbillede": {"uri": pic, "creation_timestamp": 1_600_000_000, "title": ""}},
            "string_map_data": {
                "Brugernavn": {"href": "", "value": "me.myself", "timestamp": 0},
                "Navn": {"href": "", "value": mj("Mé Myself"), "timestamp": 0},
                mj("Fødselsdato"): {"href": "", "value": "1990-04-02", "timestamp": 0},
                "Telefonnummer": {"href": "", "value": "+4587654321", "timestamp": 0},
                mj("Køn"): {"href": "", "value": "Kvinde", "timestamp": 0},
                "Privat konto": {"href": "", "value": "True", "timestamp": 0}}}]}),
    )?;
    t.text("Fødselsdato");
    t.text("Mé Myself");
    for (field, value) in [
        ("username", json!("me.myself")),
        ("name", json!("Mé Myself")),
        ("birthday", json!("1990-04-02")),
        ("phone", json!("+4587654321")),
        ("gender", json!("Kvinde")),
        ("private", json!(true)),
    ] {
        t.profile(field, value);
    }
    if era == Era::Y2025 {
        let insights =
            "personal_information/personal_information/instagram_profile_information.json";
        t.meta_json(
            insights,
            &json!({"profile_account_insights": [{"string_map_data": {"Contact syncing": {"value": "False"}}}]}),
        )?;
        // Not read: ferry's model has no account insights.
        t.m.ignored.push(insights.into());
    }

    // posts_1: single-media jpg (caption on the media) + webp carousel (caption at the top).
    let single = "media/posts/201912/79_n_17851234567890123.jpg";
    t.media(single, Format::Jpeg, seed + 1)?;
    let mut it = MediaItem::new(single, Format::Jpeg, "post")
        .at(1_575_388_926)
        .caption("Kø i København 😂");
    it.location = Some((55.71835, 11.72495));
    t.item(it);
    let car = [
        "media/posts/202207/2930_n_17941.webp",
        "media/posts/202207/2933_n_17941.webp",
    ];
    for (i, u) in car.iter().enumerate() {
        t.media(u, Format::Webp, seed + 2 + i as u64)?;
        t.item(
            MediaItem::new(*u, Format::Webp, "post")
                .at(1_657_665_070)
                .caption("Carousel caption 🙌"),
        );
    }
    t.text("Kø i København 😂");
    t.text("Carousel caption 🙌");
    t.meta_json(
        &format!("{content}/posts_1.json"),
        &json!([
            {"media": [{"uri": single, "creation_timestamp": 1_575_388_926, "title": mj("Kø i København 😂"),
                "media_metadata": {"photo_metadata": {"exif_data": [{"latitude": 55.71835, "longitude": 11.72495}]}},
                "cross_post_source": {"source_app": "FB"}}]},
            {"media": [{"uri": car[0], "creation_timestamp": 1_657_665_069, "title": ""},
                       {"uri": car[1], "creation_timestamp": 1_657_665_069, "title": ""}],
             "title": mj("Carousel caption 🙌"), "creation_timestamp": 1_657_665_070}
        ]),
    )?;
    // posts_2: a .heic with a genuine Latin-1 caption, and an extension-less video.
    let heic = "media/posts/202407/449_n_18012.heic";
    t.media(heic, Format::Heic, seed + 4)?;
    t.item(
        MediaItem::new(heic, Format::Heic, "post")
            .at(1_720_000_000)
            .caption("café"),
    );
    t.text("café");
    let bare = "media/posts/201911/PxUCKAJDfQ2mZ_17861590900598972";
    t.media(bare, Format::Mp4, seed + 5)?;
    t.item(MediaItem::new(bare, Format::Mp4, "post").at(1_573_000_000));
    t.meta_json(
        &format!("{content}/posts_2.json"),
        &json!([
            // "caf\u00e9": genuine Latin-1, must stay café after the mojibake repair.
            {"media": [{"uri": heic, "creation_timestamp": 1_720_000_000, "title": "café",
                "media_metadata": {"photo_metadata": {"exif_data": []}}}]},
            {"media": [{"uri": bare, "creation_timestamp": 1_573_000_000, "title": "",
                "media_metadata": {"video_metadata": {"exif_data": [{"latitude": 0.0, "longitude": 0.0}]}}}]}
        ]),
    )?;
    t.count("posts", 4);

    // Stories.
    let sj = "media/stories/202301/3301_n_17999.jpg";
    let sv = "media/stories/202301/3302_n_17999.mp4";
    t.media(sj, Format::Jpeg, seed + 6)?;
    t.media(sv, Format::Mp4, seed + 7)?;
    t.item(
        MediaItem::new(sj, Format::Jpeg, "story")
            .at(1_673_000_000)
            .caption("Godmorgen ☀️"),
    );
    t.item(MediaItem::new(sv, Format::Mp4, "story").at(1_673_000_100));
    t.text("Godmorgen ☀️");
    t.meta_json(
        &format!("{content}/stories.json"),
        &json!({"ig_stories": [
            {"uri": sj, "creation_timestamp": 1_673_000_000, "title": mj("Godmorgen ☀️")},
            {"uri": sv, "creation_timestamp": 1_673_000_100, "title": ""}]}),
    )?;
    t.count("stories", 2);
    t.count("profile_pictures", 1);

    // Comments: bare array of string_map_data with localized, mojibake'd keys.
    let comments = match era {
        Era::Y2021 => "comments/post_comments.json".to_string(),
        _ => "your_instagram_activity/comments/post_comments_1.json".to_string(),
    };
    t.meta_json(
        &comments,
        &json!([{"media_list_data": [{"uri": ""}], "string_map_data": {
            "Kommentar": {"value": mj("Så fint ❤")},
            mj("Medieejer"): {"value": "alice"},
            "Tidspunkt": {"timestamp": 1_650_618_520}}}]),
    )?;
    t.text("Så fint ❤");
    t.not_carried(&comments, "owner of the post commented on");
    t.count("comments", 1);

    // DM thread split over message_1.json (newest) and message_2.json (older).
    let thread = "alice_17841400000000001";
    let tdir = format!("{inbox}/{thread}");
    let photo = format!("{tdir}/photos/12345_n_1784.jpg");
    t.media(&photo, Format::Jpeg, seed + 8)?;
    t.item(MediaItem::new(photo.clone(), Format::Jpeg, "dm").at(1_740_313_150));
    let head = |msgs: Value| {
        json!({"participants": [{"name": "Alice"}, {"name": "Me Myself"}], "messages": msgs,
               "title": "Alice", "is_still_participant": true,
               "thread_path": format!("inbox/{thread}"), "magic_words": []})
    };
    t.meta_json(
        &format!("{tdir}/message_1.json"),
        &head(json!([
            {"sender_name": "Alice", "timestamp_ms": 1_740_313_151_090_i64, "content": mj("hey 👏"),
             "reactions": [{"reaction": mj("❤"), "actor": "Me Myself"}], "is_geoblocked_for_viewer": false},
            {"sender_name": "Me Myself", "timestamp_ms": 1_740_313_150_000_i64,
             "photos": [{"uri": photo, "creation_timestamp": 1_740_313_150}], "is_geoblocked_for_viewer": false}
        ])),
    )?;
    t.meta_json(
        &format!("{tdir}/message_2.json"),
        &head(json!([
            {"sender_name": "Me Myself", "timestamp_ms": 1_740_313_000_000_i64, "content": "You sent an attachment.",
             "share": {"link": "https://www.instagram.com/reel/Cx0example/", "share_text": "", "original_content_owner": "bob"},
             "is_geoblocked_for_viewer": false},
            {"sender_name": "Alice", "timestamp_ms": 1_740_312_000_000_i64, "content": "Alice unsent a message",
             "is_unsent": true, "is_geoblocked_for_viewer": false}
        ])),
    )?;
    t.text("hey 👏");
    t.m.links
        .push("https://www.instagram.com/reel/Cx0example/".into());
    t.count("threads", 1);
    t.count("messages", 4);

    for q in [
        "mojibake-values",
        "mojibake-keys",
        "localized-keys",
        "latin1-genuine",
        "single-media-caption-on-media",
        "carousel-caption-on-post",
        "webp",
        "heic",
        "extensionless-video",
        "posts-split-N",
        "story",
        "dm-split-message_N",
        "dm-photo",
        "dm-reaction",
        "dm-share",
        "dm-unsent",
        "location-0-0",
    ] {
        t.quirk(q);
    }
    if era == Era::Y2025 {
        media_lists_and_requests(t, content, inbox, seed)?;
    }
    Ok(())
}

/// The other media lists (reels, archived posts, IGTV) and a message request with every kind
/// of attachment besides photos.
fn media_lists_and_requests(t: &mut Tree, content: &str, inbox: &str, seed: u64) -> io::Result<()> {
    let reel = "media/reels/202405/18033_n_17001.mp4";
    t.media(reel, Format::Mp4, seed + 20)?;
    t.item(
        MediaItem::new(reel, Format::Mp4, "reel")
            .at(1_715_000_000)
            .caption("Reel på dansk 🎬"),
    );
    t.text("Reel på dansk 🎬");
    t.meta_json(
        &format!("{content}/reels.json"),
        &json!({"ig_reels_media": [{"media": [{"uri": reel, "creation_timestamp": 1_715_000_000,
            "title": mj("Reel på dansk 🎬"), "media_metadata": {"video_metadata": {"exif_data": []}}}]}]}),
    )?;
    // Archived post: the camera's time (EXIF style, no zone = UTC) beats the upload time.
    let archived = "media/archived_posts/202306/5501_n_17002.jpg";
    t.media(archived, Format::Jpeg, seed + 21)?;
    let mut it = MediaItem::new(archived, Format::Jpeg, "archived")
        .at(1_683_356_889)
        .caption("Gemt væk");
    it.location = Some((48.8584, 2.2945));
    t.item(it);
    t.text("Gemt væk");
    t.meta_json(
        &format!("{content}/archived_posts.json"),
        &json!({"ig_archived_post_media": [{"media": [{"uri": archived, "creation_timestamp": 1_686_000_000,
            "title": mj("Gemt væk"), "media_metadata": {"photo_metadata": {"exif_data": [
                {"iso": 100, "date_time_original": "2023:05:06 07:08:09"},
                {"latitude": 48.8584, "longitude": 2.2945}]}}}]}]}),
    )?;
    let tv = "media/igtv/202101/7701_n_17003.mp4";
    t.media(tv, Format::Mp4, seed + 22)?;
    t.item(
        MediaItem::new(tv, Format::Mp4, "igtv")
            .at(1_610_000_000)
            .caption("IGTV episode"),
    );
    t.meta_json(
        &format!("{content}/igtv_videos.json"),
        &json!({"ig_igtv_media": [{"media": [{"uri": tv, "creation_timestamp": 1_610_000_000, "title": "IGTV episode"}]}]}),
    )?;
    t.count("reels", 1);
    t.count("archived_posts", 1);
    t.count("igtv", 1);

    // A message request: video, sticker, voice clip (audio in an .mp4 name: not a photo or
    // video) and a video only the expired CDN still has.
    let requests = inbox.replace("/inbox", "/message_requests");
    let tdir = format!("{requests}/bob_17841400000000002");
    let video = format!("{tdir}/videos/7771_n_1784.mp4");
    let sticker = format!("{tdir}/photos/sticker_1784.webp");
    let audio = format!("{tdir}/audio/audioclip17410000000_1784.mp4");
    let cdn = "https://video.cdninstagram.com/v/t42/expired_1784.mp4?oe=65A1B2C3";
    t.media(&video, Format::Mp4, seed + 23)?;
    t.media(&sticker, Format::Webp, seed + 24)?;
    t.file(&audio, b"\0\0\0\x18ftypM4A \0\0\0\0M4A isom\0\0\0\x08free")?;
    t.item(MediaItem::new(video.clone(), Format::Mp4, "dm").at(1_741_000_002));
    t.item(MediaItem::new(sticker.clone(), Format::Webp, "dm").at(1_741_000_001));
    t.m.ignored.push(audio.clone());
    t.m.links.push(cdn.into());
    t.meta_json(
        &format!("{tdir}/message_1.json"),
        &json!({"participants": [{"name": "Bob"}, {"name": "Me Myself"}], "messages": [
            {"sender_name": "Bob", "timestamp_ms": 1_741_000_002_000_i64,
             "videos": [{"uri": video, "creation_timestamp": 1_741_000_002}]},
            {"sender_name": "Bob", "timestamp_ms": 1_741_000_001_000_i64, "sticker": {"uri": sticker}},
            {"sender_name": "Bob", "timestamp_ms": 1_741_000_000_000_i64,
             "audio_files": [{"uri": audio, "creation_timestamp": 1_741_000_000}]},
            {"sender_name": "Me Myself", "timestamp_ms": 1_740_999_999_000_i64, "content": mj("Hej Bob, hvem er du? 🤔"),
             "videos": [{"uri": "", "backup_uri": cdn}]}],
            "title": "Bob", "is_still_participant": true,
            "thread_path": "message_requests/bob_17841400000000002", "magic_words": []}),
    )?;
    t.text("Hej Bob, hvem er du? 🤔");
    t.count("threads", 1);
    t.count("messages", 4);
    for q in [
        "reels",
        "archived-post",
        "igtv",
        "exif-date-time-original",
        "dm-message-requests",
        "dm-video",
        "dm-sticker",
        "dm-audio",
        "dm-cdn-backup-uri",
    ] {
        t.quirk(q);
    }
    Ok(())
}
