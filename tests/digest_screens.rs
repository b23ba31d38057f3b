//! The digest's HTML in a real browser: headless Chromium lays out a realistic digest at a
//! phone's width (390 px) and a desktop's (900 px); the page must never be wider than the
//! window, and the screenshots show it. `UPDATE_DOCS_SCREENSHOTS=1 cargo test --test
//! digest_screens` also writes them to docs/digest-390.png and docs/digest-900.png.

mod common;

use std::path::Path;

use chrono::{TimeZone, Utc};
use common::{chromium, chromium_on};
use mcap_notify::batch::{CaseChanges, Digest, EntryLine, MessageFactory, Renderer};
use mcap_notify::config::{DigestStyle, LinkSettings, MailSettings, Secret};

fn entry(seq: i64, code: &str, description: &str, text: &str, filed_by: &str) -> EntryLine {
    EntryLine {
        seq,
        entry_id: format!("DE{seq:07}"),
        code: code.into(),
        description: description.into(),
        text: text.into(),
        filed_by: filed_by.into(),
        posted_at: Utc.with_ymd_and_hms(2026, 3, 9, 14, 5, 0).unwrap()
            + chrono::Duration::hours(seq),
    }
}

fn case(number: &str, caption: &str, court: &str, id: i64, entries: Vec<EntryLine>) -> CaseChanges {
    CaseChanges {
        case_number: number.into(),
        caption: caption.into(),
        court_id: "CT16".into(),
        court_name: court.into(),
        subscription_id: id,
        entries,
    }
}

/// Several cases, long descriptions and texts, a long caption, an unbroken address and links.
fn realistic_digest() -> Digest {
    let attorney = "Jordan A. Whitfield-Castellanos, Attorney at Law";
    Digest {
        account_id: "U010042".into(),
        email: "keisha.brooks.paralegal.department@whitfield-castellanos-law-offices.example.com"
            .into(),
        email_verified: true,
        suppressed: false,
        part: None,
        dates: Vec::new(),
        // A watch's new case, with a long caption and a long reason, laid out as the rest.
        new_cases: vec![mcap_notify::store::watches::WatchNotice {
            account_id: "U010042".into(),
            email: "keisha.brooks.paralegal.department@whitfield-castellanos-law-offices.example.com"
                .into(),
            email_verified: true,
            suppressed: false,
            watch_id: "W1".into(),
            watch_name: "Worthington-Smythe, Robert James".into(),
            case_number: "2616-CV04411".into(),
            court_id: "CT16".into(),
            court_name: "16th Judicial Circuit (Jackson)".into(),
            case_type: "CV".into(),
            caption: "Midwest Credit Recovery LLC v. Robert James Worthington-Smythe and                       Maria Elena Gutierrez-Vasquez"
                .into(),
            filed_at: Utc.with_ymd_and_hms(2026, 3, 9, 15, 0, 0).unwrap(),
            party_name: "WORTHINGTON-SMYTHE, ROBERT J".into(),
            party_role: "Defendant".into(),
            why: "same last name; same first name; initial J fits middle James".into(),
            auto_tracked: true,
            auto_subscription_id: Some(77),
        }],
        paused_watches: Vec::new(),
        cases: vec![
            case(
                "2503A-FC01177",
                "In Re the Marriage of: Maria Elena Gutierrez-Vasquez and Robert James \
                 Worthington-Smythe",
                "16th Judicial Circuit (Jackson)",
                7,
                vec![
                    entry(
                        1,
                        "MOTC",
                        "Motion to Compel Discovery Responses and for an Award of Attorney's Fees",
                        &format!(
                            "Respondent's Motion to Compel Discovery Responses pursuant to Rule \
                             61.01, with Suggestions in Support and Exhibits A through F; Filed \
                             By: {attorney}; On Behalf Of: Robert James Worthington-Smythe"
                        ),
                        attorney,
                    ),
                    entry(
                        2,
                        "HRSC",
                        "Hearing Scheduled",
                        "Scheduled For: 23-Mar-2026; 9:00 AM; Div 3 Hon. Marcus D. Greene; \
                         Jackson County Courthouse, 415 East 12th Street, Kansas City",
                        "Court Clerk",
                    ),
                ],
            ),
            case(
                "2616-CR01411",
                "State of Missouri v. Darnell Washington",
                "16th Judicial Circuit (Jackson)",
                9,
                vec![entry(
                    3,
                    "WARI",
                    "Warrant Issued",
                    "Failure to Appear Warrant; Bond Set at $2,500 cash only; see \
                     https://www.courts.mo.gov/fv/c/FailureToAppearWarrantNoticeDocumentReference\
                     2616CR01411DE0000003.pdf",
                    "Hon. Marcus D. Greene",
                )],
            ),
            case(
                "2631A-CV00877",
                "Midwest Credit Recovery LLC v. Keisha Brooks",
                "31st Judicial Circuit (Greene)",
                11,
                vec![entry(4, "JE", "Judgment Entered", "", "Court Clerk")],
            ),
        ],
    }
}

/// The digest's HTML as the detailed style renders it with links configured.
fn digest_html() -> String {
    let mail = MailSettings {
        token_secret: Secret::new("screens-secret"),
        ..MailSettings::default()
    };
    MessageFactory::new(&mail, Renderer::new(DigestStyle::Detailed, None).unwrap())
        .unwrap()
        .with_links(&LinkSettings {
            case_url: Some(
                "https://www.courts.mo.gov/cnet/cases/newHeaderData.do?caseNumber={case_number}&courtId={court_id}"
                    .into(),
            ),
            manage_url: Some("https://www.courts.mo.gov/casenet/mycases".into()),
        })
        .render(1, &realistic_digest(), chrono::Utc::now())
        .unwrap()
        .html
}

/// Headless Chromium will not open a window narrower than this, so narrower layouts are
/// measured and pictured in a frame of the wanted width.
const NARROWEST_WINDOW: u32 = 500;

/// A page holding `html` in a frame `width` by `height` px at its top left corner. On load it
/// writes the framed document's scrollWidth and the frame's innerWidth into its own DOM.
fn framed(html: &str, width: u32, height: u32) -> String {
    let escaped = html.replace('&', "&amp;").replace('"', "&quot;");
    format!(
        "<!DOCTYPE html><html><head><style>html,body{{margin:0;padding:0;background:#fff}}</style>\
         </head><body><iframe id=\"f\" style=\"display:block;border:0;width:{width}px;\
         height:{height}px\" srcdoc=\"{escaped}\"></iframe><script>\
         window.addEventListener('load', () => {{ const w = document.getElementById('f').contentWindow; \
         document.documentElement.setAttribute('data-widths', \
         w.document.documentElement.scrollWidth + ' ' + w.innerWidth); }});</script></body></html>"
    )
}

/// (the document's scrollWidth, the window's innerWidth) of `html` laid out `width` px wide.
fn widths(chromium: &Path, scratch: &Path, html: &str, width: u32) -> (u32, u32) {
    let page = scratch.join(format!("measure-{width}.html"));
    std::fs::write(&page, framed(html, width, 900)).unwrap();
    let out = chromium_on(
        chromium,
        scratch,
        &page,
        &[
            "--dump-dom".into(),
            "--virtual-time-budget=5000".into(),
            format!("--window-size={},900", width.max(NARROWEST_WINDOW)),
        ],
    );
    let dom = String::from_utf8_lossy(&out.stdout);
    let value = dom
        .split("data-widths=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no widths in the dumped page: {dom}"));
    let numbers: Vec<u32> = value.split(' ').map(|n| n.parse().unwrap()).collect();
    (numbers[0], numbers[1])
}

/// A PNG of `html` `width` by `height` px; checks it shows text.
fn screenshot(chromium: &Path, scratch: &Path, html: &str, width: u32, height: u32) -> Vec<u8> {
    let page = scratch.join(format!("shot-{width}.html"));
    std::fs::write(&page, framed(html, width, height)).unwrap();
    let shot = scratch.join(format!("digest-{width}.png"));
    chromium_on(
        chromium,
        scratch,
        &page,
        &[
            format!("--screenshot={}", shot.display()),
            "--virtual-time-budget=5000".into(),
            format!("--window-size={},{height}", width.max(NARROWEST_WINDOW)),
        ],
    );
    let bytes = std::fs::read(&shot).unwrap_or_else(|e| panic!("no screenshot at {width}: {e}"));
    let mut reader = png::Decoder::new(std::io::Cursor::new(&bytes))
        .read_info()
        .unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert!(info.width >= width && info.height >= height, "{info:?}");
    // The frame's part of the window only.
    let channels = info.color_type.samples();
    let row = info.line_size;
    let mut cropped = Vec::with_capacity((width * height) as usize * channels);
    for y in 0..height as usize {
        cropped.extend_from_slice(&buf[y * row..y * row + width as usize * channels]);
    }
    let dark = cropped
        .chunks(channels)
        .filter(|p| p[0] < 80 && p[1] < 80 && p[2] < 80)
        .count();
    assert!(
        dark > 1000,
        "the screenshot at {width} px shows little text"
    );
    let mut png_bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut png_bytes, width, height);
    encoder.set_color(info.color_type);
    encoder.set_depth(info.bit_depth);
    encoder
        .write_header()
        .unwrap()
        .write_image_data(&cropped)
        .unwrap();
    png_bytes
}

#[test]
fn the_digest_fits_a_phone_and_a_desktop_without_scrolling_sideways() {
    let Some(chromium) = chromium() else { return };
    let scratch = tempfile::tempdir().unwrap();
    let html = digest_html();
    for width in [390, 900] {
        let (scroll, inner) = widths(&chromium, scratch.path(), &html, width);
        assert_eq!(inner, width, "the window is {width} px wide");
        assert!(
            scroll <= inner,
            "at {width} px the page is {scroll} px wide: it scrolls sideways"
        );
    }
    // The check can fail: a page with something wider than the phone does scroll.
    let wide = html.replacen(
        "</body>",
        "<div style=\"width:1200px\">wider than a phone</div></body>",
        1,
    );
    let (scroll, inner) = widths(&chromium, scratch.path(), &wide, 390);
    assert!(scroll > inner, "a 1200 px block overflows ({scroll} px)");

    let docs = std::env::var("UPDATE_DOCS_SCREENSHOTS").is_ok_and(|v| v == "1");
    for (width, height) in [(390, 1700), (900, 1340)] {
        let png = screenshot(&chromium, scratch.path(), &html, width, height);
        if docs {
            let target = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("docs")
                .join(format!("digest-{width}.png"));
            std::fs::write(&target, png).unwrap();
        }
    }
}
