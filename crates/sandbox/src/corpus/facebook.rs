//! Facebook "Download your information" trees (archives.md §3): the pre-2024 JSON layout, the
//! 2024+ layout, the separate end-to-end-encrypted Messenger download, and an HTML-format export
//! that a reader must refuse.

use std::io;
use std::path::Path;

use serde_json::{Value, json};

use super::{Format, Manifest, MediaItem, Tree, mojibake as mj};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Era {
    /// `posts/your_posts_1.json`, `profile_information/`, `messages/inbox/`.
    Pre2024,
    /// ~2022–2023: `profile_information/` at the root as before, activity under
    /// `your_activity_across_facebook/…`.
    Y2022,
    /// `your_facebook_activity/…`, `personal_information/profile_information/`.
    Y2024,
    /// The separate E2EE Messenger download: camelCase `<Name>_<n>.json` threads + `media/`.
    E2ee,
    /// An HTML-format export: must be refused with a clear message.
    Html,
}

impl Era {
    pub const ALL: [Era; 5] = [Era::Pre2024, Era::Y2022, Era::Y2024, Era::E2ee, Era::Html];
    pub fn name(self) -> &'static str {
        match self {
            Era::Pre2024 => "pre-2024",
            Era::Y2022 => "2022",
            Era::Y2024 => "2024",
            Era::E2ee => "e2ee",
            Era::Html => "html",
        }
    }
}

/// Writes an unpacked Facebook export of `era` into `dir`.
pub fn write(dir: &Path, era: Era) -> io::Result<Manifest> {
    let mut t = Tree::new(dir, "facebook", era.name());
    match era {
        Era::Pre2024 | Era::Y2022 | Era::Y2024 => json_export(&mut t, era)?,
        Era::E2ee => e2ee(&mut t)?,
        Era::Html => html(&mut t)?,
    }
    Ok(t.finish())
}

fn media_obj(uri: &str, ts: i64, title: &str, meta: Value) -> Value {
    json!({"uri": uri, "creation_timestamp": ts, "title": mj(title), "description": "", "media_metadata": meta})
}

/// The events files (one event in two of them) and the notes.
fn events_and_notes(t: &mut Tree, era: Era) -> io::Result<()> {
    let base = match era {
        Era::Y2024 => "your_facebook_activity/",
        Era::Y2022 => "your_activity_across_facebook/",
        _ => "",
    };
    let tivoli = json!({"name": mj("Tivoli Gårdene"),
        "coordinate": {"latitude": 55.6737, "longitude": 12.5681},
        "address": mj("Vesterbrogade 3, København")});
    t.meta_json(
        &format!("{base}events/your_events.json"),
        &json!({"your_events_v2": [{"name": mj("Sommerfest i Tivoli 🎉"),
            "start_timestamp": 1_690_000_000, "end_timestamp": 0, "place": tivoli,
            "description": mj("Vi ses ved søen"), "create_timestamp": 1_689_000_000}]}),
    )?;
    // Joined as well as created: one event. No "events_declined" bucket at all.
    t.meta_json(
        &format!("{base}events/your_event_responses.json"),
        &json!({"event_responses_v2": {
            "events_joined": [{"name": mj("Sommerfest i Tivoli 🎉"),
                "start_timestamp": 1_690_000_000, "end_timestamp": 0}],
            "events_interested": [{"name": mj("Jazz på Havnen"),
                "start_timestamp": 1_691_000_000, "end_timestamp": 1_691_010_800}]}}),
    )?;
    t.meta_json(
        &format!("{base}events/event_invitations.json"),
        &json!({"events_invited_v2": [{"name": "Ultimate Frisbee",
            "start_timestamp": 1_661_882_400, "end_timestamp": 1_661_887_800}]}),
    )?;
    t.count("events", 3);
    t.text("Sommerfest i Tivoli 🎉");
    t.text("Vi ses ved søen");
    t.text("Jazz på Havnen");
    t.quirk("events-in-several-files");
    let notes = format!("{base}other_activity/notes.json");
    t.not_carried(&notes, "people tagged");
    t.meta_json(
        &notes,
        &json!({"notes_v2": [
            {"title": mj("Minder"), "text": mj("\nKære alle, tak for i år."),
             "created_timestamp": 1_235_080_863, "updated_timestamp": 1_603_783_886,
             "tags": [{"name": "Dan"}]},
            {"title": "", "text": "", "created_timestamp": 1_235_080_900,
             "updated_timestamp": 1_235_080_900, "tags": []}]}),
    )?;
    t.count("notes", 2);
    t.text("Minder");
    t.text("Kære alle, tak for i år.");
    Ok(())
}

fn json_export(t: &mut Tree, era: Era) -> io::Result<()> {
    let new = era == Era::Y2024;
    let (profile, posts_dir, posts_file, msgs) = match era {
        Era::Y2024 => (
            "personal_information/profile_information/profile_information.json",
            "your_facebook_activity/posts",
            "your_facebook_activity/posts/your_posts__check_ins__photos_and_videos_1.json",
            "your_facebook_activity/messages",
        ),
        Era::Y2022 => (
            "profile_information/profile_information.json",
            "your_activity_across_facebook/posts",
            "your_activity_across_facebook/posts/your_posts__check_ins__photos_and_videos_1.json",
            "your_activity_across_facebook/messages",
        ),
        _ => (
            "profile_information/profile_information.json",
            "posts",
            "posts/your_posts_1.json",
            "messages",
        ),
    };
    if era == Era::Y2022 {
        t.quirk("your_activity_across_facebook");
    }
    let seed = match era {
        Era::Y2024 => 600,
        Era::Y2022 => 550,
        _ => 500,
    };
    t.meta_json(
        profile,
        &json!({"profile_v2": {"name": {"full_name": mj("Jörg Müller"), "first_name": mj("Jörg"), "middle_name": "", "last_name": mj("Müller")},
            "emails": {"emails": ["jorg@example.org"], "previous_emails": [], "pending_emails": []},
            "birthday": {"year": 1985, "month": 7, "day": 14}, "username": "jorg.muller",
            "gender": {"gender_option": "MALE", "pronoun": "MASCULINE"},
            "current_city": {"name": mj("København"), "timestamp": 0},
            "hometown": {"name": mj("Århus"), "timestamp": 1_230_000_000},
            "relationship": {"status": "Married", "timestamp": 1_400_000_000},
            "phone_numbers": [{"phone_type": "Mobile", "phone_number": "+4512345678", "verified": true}],
            "registration_timestamp": 1_230_000_000, "profile_uri": "https://www.facebook.com/jorg.muller"}}),
    )?;
    t.text("Jörg Müller");
    for (field, value) in [
        ("name", json!("Jörg Müller")),
        ("email", json!("jorg@example.org")),
        ("phone", json!("+4512345678")),
        ("birthday", json!("1985-07-14")),
        ("gender", json!("MALE")),
        ("current_city", json!("København")),
        ("hometown", json!("Århus")),
    ] {
        t.profile(field, value);
    }
    for what in ["relationship", "profile_uri"] {
        t.not_carried(profile, what);
    }

    let album_dir = format!("{posts_dir}/media/MobileUploads_a1B2c3D4");
    let timeline_dir = format!("{posts_dir}/media/TimelinePhotos_awR5xY");
    // Post 1: text + photo (exif_data shape, taken_timestamp) + place + external_context.
    let p1 = format!("{timeline_dir}/2266_n_1661.jpg");
    t.media(&p1, Format::Jpeg, seed + 1)?;
    let mut it = MediaItem::new(p1.clone(), Format::Jpeg, "post")
        .at(1_305_040_000)
        .caption("Kaffe på Café X ☕");
    it.albums = vec!["Timeline Photos".into()];
    // The photo's EXIF has no place: the post's is the photo's.
    it.location = Some((55.676, 12.568));
    t.item(it);
    t.text("Kaffe på Café X ☕");
    let exif = json!({"photo_metadata": {"exif_data": [{"upload_ip": "94.1.2.3", "taken_timestamp": 1_305_040_000, "camera_make": "Sony", "iso": 40}]}});
    let p1_obj = media_obj(&p1, 1_305_050_046, "Timeline Photos", exif.clone());
    // Post 2: life event, placed at its backdated timestamp.
    // Post 3: title-only shell.
    let posts = json!([
        {"timestamp": 1_305_050_046, "title": mj("Jörg Müller added a new photo."),
         "data": [{"post": mj("Kaffe på Café X ☕")}, {"update_timestamp": 1_305_050_046}],
         "attachments": [{"data": [
            {"media": p1_obj},
            {"external_context": {"url": "https://example.org/cafe-x", "name": mj("Café X"), "source": "example.org"}},
            {"place": {"name": mj("Café X"), "coordinate": {"latitude": 55.676, "longitude": 12.568},
                       "address": mj("Nørregade 1, København"), "url": "https://www.facebook.com/cafex"}}]}],
         "tags": [{"name": "Friend Name"}]},
        {"timestamp": 1_500_000_000, "title": mj("Jörg Müller started a new job."),
         "data": [{"backdated_timestamp": 1_420_070_400}, {"update_timestamp": 1_500_000_000}],
         "attachments": [{"data": [{"life_event": {"title": "Started at Example A/S", "start_date": {"year": 2015, "month": 1, "day": 1}}}]}]},
        {"timestamp": 1_510_000_000, "title": "Jorg Muller posted something via Example App."}
    ]);
    t.meta_json(posts_file, &posts)?;
    t.text("Nørregade 1, København");
    t.not_carried(posts_file, "people tagged");
    t.count("posts", 3);
    t.count("life_events", 1);
    t.count("places", 1);

    // Album 0: exif_data shape, cover_photo, and the post's photo again (dedupe by uri).
    let a0 = [
        format!("{album_dir}/1001_n_1662.jpg"),
        format!("{album_dir}/1002_n_1662.jpg"),
    ];
    for (i, u) in a0.iter().enumerate() {
        t.media(u, Format::Jpeg, seed + 2 + i as u64)?;
        let mut it = MediaItem::new(u.clone(), Format::Jpeg, "album").at(1_575_156_666 + i as i64);
        it.albums = vec!["Mobile Uploads".into()];
        it.location = if i == 0 { Some((29.92, -90.08)) } else { None };
        t.item(it);
    }
    let ex = |ts: i64, lat: f64, lon: f64| json!({"photo_metadata": {"exif_data": [{"upload_ip": "93.1.2.3", "taken_timestamp": ts, "latitude": lat, "longitude": lon}]}});
    let a0_objs = vec![
        media_obj(&a0[0], 1_578_144_009, "", ex(1_575_156_666, 29.92, -90.08)),
        media_obj(&a0[1], 1_578_144_010, "", ex(1_575_156_667, 0.0, 0.0)),
    ];
    t.meta_json(
        &format!("{posts_dir}/album/0.json"),
        &json!({"name": "Mobile Uploads", "description": "", "last_modified_timestamp": 1_578_144_010,
                "photos": a0_objs, "cover_photo": a0_objs[0]}),
    )?;
    // Album 1: flat photo_metadata (2018–2019 shape), mojibake'd album name; holds the post photo too.
    let a1 = format!("{posts_dir}/media/SommerIDanmark_q9W8e7/3001_n_1663.jpg");
    t.media(&a1, Format::Jpeg, seed + 4)?;
    let mut it = MediaItem::new(a1.clone(), Format::Jpeg, "album").at(1_437_193_521);
    it.albums = vec!["Sommer i Danmark ☀".into()];
    t.item(it);
    t.text("Sommer i Danmark ☀");
    let flat = json!({"photo_metadata": {"camera_make": "Huawei", "taken_timestamp": 1_437_193_521,
                                          "iso_speed": 138, "exposure": "166/10000", "upload_ip": "-"}});
    t.meta_json(
        &format!("{posts_dir}/album/1.json"),
        &json!({"name": mj("Sommer i Danmark ☀"), "description": "", "last_modified_timestamp": 1_437_454_657,
                "photos": [media_obj(&a1, 1_437_454_657, "", flat.clone()), media_obj(&p1, 1_305_050_046, "Timeline Photos", exif)],
                "cover_photo": media_obj(&a1, 1_437_454_657, "", flat)}),
    )?;
    // The post photo is in album 1 as well: one item, two albums.
    t.m.media[0].albums.push("Sommer i Danmark ☀".into());
    t.count("albums", 2);

    // Uncategorized photos and videos.
    let un = format!("{posts_dir}/media/Uncategorized_z1/4001_n_1664.jpg");
    let vid = format!("{posts_dir}/media/Videos_v1/5001_n_1665.mp4");
    t.media(&un, Format::Jpeg, seed + 5)?;
    t.media(&vid, Format::Mp4, seed + 6)?;
    t.item(MediaItem::new(un.clone(), Format::Jpeg, "uncategorized").at(1_600_000_000));
    t.item(
        MediaItem::new(vid.clone(), Format::Mp4, "video")
            .at(1_600_100_000)
            .caption("Lyd på ♫"),
    );
    t.text("Lyd på ♫");
    t.meta_json(
        &format!("{posts_dir}/your_uncategorized_photos.json"),
        &json!({"other_photos_v2": [media_obj(&un, 1_600_000_000, "", json!({"photo_metadata": {"exif_data": [{"upload_ip": "1.2.3.4"}]}}))]}),
    )?;
    t.meta_json(
        &format!("{posts_dir}/your_videos.json"),
        &json!({"videos_v2": [{"uri": vid, "creation_timestamp": 1_600_100_000, "title": "", "description": mj("Lyd på ♫"),
            "media_metadata": {"video_metadata": {"exif_data": [{"upload_ip": "1.2.3.4", "upload_timestamp": 0}]}},
            "thumbnail": {"uri": "https://scontent.xx.fbcdn.net/v/t15/thumb_example.jpg"}}]}),
    )?;

    // Check-ins: an array (pre-2024) or a single object (2024+, one check-in); the place flat
    // among the labels, or nested under "Place tags" as a dict (or a vec of dicts) of its
    // name, address and coordinates.
    let flat = |ts: i64, place: &str, coord: &str| {
        json!({"timestamp": ts, "fbid": "100000000000001", "label_values": [
            {"label": "Place name", "value": mj(place)},
            {"label": "Coordinates", "value": coord},
            {"label": "Visited", "timestamp_value": ts}]})
    };
    let tagged_place = |place: &str, address: &str, coord: &str| {
        json!([{"label": "Name", "value": mj(place)},
               {"label": "Address", "value": mj(address)},
               {"label": "URL", "value": "https://www.facebook.com/tivoli"},
               {"label": "Coordinates", "value": coord}])
    };
    let checkins_path = format!("{posts_dir}/check-ins.json");
    if new {
        t.meta_json(
            &checkins_path,
            &json!({"timestamp": 1_700_000_000, "fbid": "100000000000003", "label_values": [
                {"label": "Message", "value": mj("Karrusel 🎠")},
                {"label": "Place tags", "dict": tagged_place("Tivoli Gårdene", "Vesterbrogade 3, København", "(55.67 , 12.56)")},
                {"label": "Visited", "timestamp_value": 1_700_000_000}]}),
        )?;
        t.text("Karrusel 🎠");
        t.count("check_ins", 1);
        t.quirk("check-ins-object");
    } else {
        t.meta_json(
            &checkins_path,
            &json!([
                {"timestamp": 1_400_000_000, "fbid": "100000000000001", "label_values": [
                    {"label": "Place tags", "vec": [{"dict": tagged_place("Tivoli Gårdene", "Vesterbrogade 3, København", "(55.67 , 12.56)")}]}]},
                flat(1_400_100_000, "Sacramento", "(38.57 , -121.48)")
            ]),
        )?;
        t.count("check_ins", 2);
        t.quirk("check-ins-array");
    }
    t.quirk("check-ins-place-tags");
    t.text("Tivoli Gårdene");
    t.text("Vesterbrogade 3, København");
    events_and_notes(t, era)?;

    // Comments.
    let comments = match era {
        Era::Y2024 => "your_facebook_activity/comments_and_reactions/comments.json",
        Era::Y2022 => "your_activity_across_facebook/comments_and_reactions/comments.json",
        _ => "comments_and_reactions/comments.json",
    };
    t.meta_json(
        comments,
        &json!({"comments_v2": [{"timestamp": 1_650_000_000, "title": "Jorg Muller commented on Alice's post.",
            "data": [{"comment": {"timestamp": 1_650_000_000, "comment": mj("Tillykke 🎉"), "author": mj("Jörg Müller")}}]}]}),
    )?;
    t.text("Tillykke 🎉");
    t.count("comments", 1);

    // Messenger: a thread split over message_1/message_2.
    let tdir = format!("{msgs}/inbox/alicehansen_10150000000000001");
    let mphoto = format!("{tdir}/photos/777_n_1666.jpg");
    t.media(&mphoto, Format::Jpeg, seed + 7)?;
    t.item(MediaItem::new(mphoto.clone(), Format::Jpeg, "dm").at(1_600_000_500));
    let head = |title: &str, path: &str, msgs: Value| {
        json!({"participants": [{"name": mj(title)}, {"name": mj("Jörg Müller")}], "messages": msgs,
               "title": mj(title), "is_still_participant": true, "thread_path": path, "magic_words": []})
    };
    t.meta_json(
        &format!("{tdir}/message_1.json"),
        &head("Alice Hansen", "inbox/alicehansen_10150000000000001", json!([
            {"sender_name": "Alice Hansen", "timestamp_ms": 1_600_000_600_000_i64, "content": mj("Reacted ❤ to your message "),
             "is_geoblocked_for_viewer": false},
            {"sender_name": mj("Jörg Müller"), "timestamp_ms": 1_600_000_500_000_i64,
             "photos": [{"uri": mphoto, "creation_timestamp": 1_600_000_500}],
             "reactions": [{"reaction": mj("❤"), "actor": "Alice Hansen"}], "is_geoblocked_for_viewer": false}])),
    )?;
    t.meta_json(
        &format!("{tdir}/message_2.json"),
        &head("Alice Hansen", "inbox/alicehansen_10150000000000001", json!([
            {"sender_name": "Alice Hansen", "timestamp_ms": 1_600_000_100_000_i64, "content": "https://example.org/article",
             "share": {"link": "https://example.org/article"}, "is_geoblocked_for_viewer": false},
            {"sender_name": "Alice Hansen", "timestamp_ms": 1_600_000_000_000_i64, "content": "oops",
             "is_unsent": true, "is_geoblocked_for_viewer": false}])),
    )?;
    t.m.links.push("https://example.org/article".into());
    t.count("threads", 1);
    t.count("messages", 4);

    if new {
        // e2ee_cutover thread: a bare file-name uri (the file in the thread's photos/) and an
        // expired CDN uri.
        let cdir = format!("{msgs}/e2ee_cutover/bobberg_10150000000000002");
        let bare = format!("{cdir}/photos/98765_n_2017.jpg");
        t.media(&bare, Format::Jpeg, seed + 8)?;
        t.item(MediaItem::new(bare.clone(), Format::Jpeg, "dm").at(1_490_000_000));
        let cdn = "https://scontent.xx.fbcdn.net/v/t1.0-9/expired_example_n.jpg?oh=00&oe=5E00";
        t.meta_json(
            &format!("{cdir}/message_1.json"),
            &head("Bob Berg", "e2ee_cutover/bobberg_10150000000000002", json!([
                {"sender_name": "Bob Berg", "timestamp_ms": 1_490_000_100_000_i64, "photos": [{"uri": cdn, "creation_timestamp": 1_490_000_100}]},
                {"sender_name": "Bob Berg", "timestamp_ms": 1_490_000_000_000_i64, "photos": [{"uri": "98765_n_2017.jpg", "creation_timestamp": 1_490_000_000}]}])),
        )?;
        t.m.links.push(cdn.into());
        t.count("threads", 1);
        t.count("messages", 2);
        // Junk to tolerate.
        t.file(
            "your_facebook_activity/stories/archived_stories.json",
            b"[object Object]",
        )?;
        t.file("your_facebook_activity/groups/no-data.txt", b"")?;
        t.m.ignored
            .push("your_facebook_activity/stories/archived_stories.json".into());
        t.m.ignored
            .push("your_facebook_activity/groups/no-data.txt".into());
        for q in [
            "e2ee_cutover",
            "uri-bare-filename",
            "uri-cdn",
            "object-Object-junk",
            "no-data-txt",
        ] {
            t.quirk(q);
        }
    }
    for q in [
        "mojibake-values",
        "post-data-post-update_timestamp",
        "place",
        "external_context",
        "life_event-backdated",
        "album-cover_photo",
        "photo_metadata-exif_data",
        "photo_metadata-flat",
        "dm-split-message_N",
        "same-photo-post-and-albums",
    ] {
        t.quirk(q);
    }
    Ok(())
}

fn e2ee(t: &mut Tree) -> io::Result<()> {
    let m1 = "media/3f2a9c0d1e4b5a6f.jpeg";
    t.media(m1, Format::Jpeg, 700)?;
    t.item(MediaItem::new(m1, Format::Jpeg, "dm").at(1_746_073_791));
    // This export writes proper UTF-8, not mojibake.
    t.json(
        "Alice Hansen_40.json",
        &json!({"participants": ["Jörg Müller", "Alice Hansen"], "threadName": "Alice Hansen_40",
            "messages": [
                {"senderName": "Jörg Müller", "timestamp": 1_746_073_791_906_i64, "text": "", "type": "media",
                 "media": [{"uri": format!("./{m1}")}], "reactions": [{"actor": "Alice Hansen", "reaction": "❤"}], "isUnsent": false},
                {"senderName": "Alice Hansen", "timestamp": 1_746_073_700_000_i64, "text": "Hej Jörg 👋", "type": "text",
                 "media": [], "reactions": [], "isUnsent": false},
                {"senderName": "Alice Hansen", "timestamp": 1_746_073_600_000_i64, "text": "", "type": "media",
                 "media": [{"uri": "Failed to download media"}], "reactions": [], "isUnsent": false}]}),
    )?;
    t.text("Hej Jörg 👋");
    t.count("threads", 1);
    t.count("messages", 3);
    for q in [
        "e2ee-camelcase",
        "utf8-not-mojibake",
        "failed-to-download-media",
    ] {
        t.quirk(q);
    }
    Ok(())
}

fn html(t: &mut Tree) -> io::Result<()> {
    let page = |title: &str| {
        format!(
            "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{title}</title></head><body><main><h1>{title}</h1></main></body></html>"
        )
    };
    t.file(
        "your_facebook_activity/posts/your_posts__check_ins__photos_and_videos_1.html",
        page("Your posts").as_bytes(),
    )?;
    t.file(
        "your_facebook_activity/posts/album/0.html",
        page("Mobile Uploads").as_bytes(),
    )?;
    t.file(
        "personal_information/profile_information/profile_information.html",
        page("Profile").as_bytes(),
    )?;
    t.media(
        "your_facebook_activity/posts/media/MobileUploads_a1B2c3D4/1001_n_1662.jpg",
        Format::Jpeg,
        800,
    )?;
    t.m.refuse = Some(
        "HTML-format export: ferry reads the JSON format; download it again choosing JSON".into(),
    );
    t.quirk("html-export");
    Ok(())
}
