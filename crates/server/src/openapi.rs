//! The OpenAPI 3.1 document at `/api/v1/openapi.json`, written by hand: the API is small, and
//! a test checks that it describes exactly the routes the router serves.
//!
//! Error answers are described per operation (an [`ErrorCase`]): the same status means
//! different things on different routes, and a shared text would be wrong for some of them.

use axum::Json;
use ferry_core::DataType;
use serde_json::{Value, json};

pub async fn document() -> Json<Value> {
    Json(spec())
}

/// An error answer of one operation: its status and what it means there.
type ErrorCase = (&'static str, &'static str);

const BAD_REQUEST: ErrorCase = (
    "400",
    "The request is not what the operation expects; the message says what is wrong.",
);
const NOT_SIGNED_IN: ErrorCase = ("401", "Not signed in (unauthorized).");
const CROSS_SITE: ErrorCase = (
    "403",
    "A cross-site request, refused by CSRF protection (cross_site).",
);
const THROTTLED: ErrorCase = (
    "429",
    "Too many failed password attempts (throttled); the Retry-After header says when to try \
     again.",
);
const NO_SUCH_JOB: ErrorCase = (
    "404",
    "No such transfer: the id is unknown or another account's (not_found).",
);
const NO_SUCH_ARCHIVE: ErrorCase = (
    "404",
    "No such archive: the id is unknown or another account's (not_found).",
);
const ARCHIVE_GONE: ErrorCase = (
    "410",
    "The archive has expired and was deleted (gone); ask for a new one.",
);

fn error_responses(cases: &[ErrorCase]) -> Value {
    let mut map = serde_json::Map::new();
    for (code, description) in cases {
        map.insert(
            (*code).to_string(),
            json!({ "description": description, "content": { "application/json": {
                "schema": schema("Error") } } }),
        );
    }
    Value::Object(map)
}

fn with_errors(mut responses: Value, cases: &[ErrorCase]) -> Value {
    if let (Some(map), Value::Object(errors)) = (responses.as_object_mut(), error_responses(cases))
    {
        map.extend(errors);
    }
    responses
}

fn schema(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn list_of(name: &str) -> Value {
    json!({ "type": "array", "items": schema(name) })
}

/// A JSON answer of `body` (a schema).
fn json_ok(description: &str, body: Value) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": body } } })
}

fn session_ok(description: &str) -> Value {
    json_ok(description, schema("Session"))
}

fn json_body(name: &str) -> Value {
    json!({ "required": true, "content": { "application/json": { "schema": schema(name) } } })
}

/// The operation needs the session cookie.
fn signed_in() -> Value {
    json!([{ "session": [] }])
}

fn path_param(name: &str, description: &str) -> Value {
    json!([{ "name": name, "in": "path", "required": true, "description": description,
        "schema": { "type": "string" } }])
}

/// A nullable value of JSON type `ty`.
fn nullable(ty: &str, description: &str) -> Value {
    json!({ "type": [ty, "null"], "description": description })
}

/// Joins objects (path items or schemas) into one; `json!` cannot hold the whole document
/// in one invocation (macro recursion limit), and the parts read better apart anyway.
fn merged(parts: Vec<Value>) -> Value {
    let mut all = serde_json::Map::new();
    for part in parts {
        if let Value::Object(map) = part {
            all.extend(map);
        }
    }
    Value::Object(all)
}

pub fn spec() -> Value {
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "ferry",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Transfer a copy of your photos and videos, and download your information. \
                Authentication is a session cookie set by sign-up and sign-in. State-changing requests \
                from browsers must be same-origin (Sec-Fetch-Site / Origin are checked)."
        },
        "paths": merged(vec![
            account_paths(),
            connection_paths(),
            transfer_paths(),
            archive_paths(),
        ]),
        "components": {
            "securitySchemes": {
                "session": { "type": "apiKey", "in": "cookie", "name": "ferry_session",
                    "description": "Named __Host-ferry_session when the server runs behind https." }
            },
            "schemas": merged(vec![
                account_schemas(),
                connection_schemas(),
                transfer_schemas(),
                archive_schemas(),
            ]),
        }
    })
}

fn account_paths() -> Value {
    json!({
        "/health": {
            "get": {
                "operationId": "health",
                "summary": "Whether the server and its store answer.",
                "responses": {
                    "200": json_ok("Serving.", schema("Health")),
                    "503": json_ok("The store does not answer.", schema("Health"))
                }
            }
        },
        "/api/v1/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This document.",
                "responses": { "200": { "description": "The OpenAPI document.",
                    "content": { "application/json": {} } } }
            }
        },
        "/api/v1/accounts": {
            "post": {
                "operationId": "signUp",
                "summary": "Create an account and sign in to it.",
                "requestBody": json_body("Credentials"),
                "responses": with_errors(
                    json!({ "201": session_ok("Created and signed in; the session cookie is set.") }),
                    &[BAD_REQUEST, CROSS_SITE,
                        ("409", "An account with this e-mail address exists already (email_taken)."),
                        ("429", "Too many sign-ups from this address (throttled); the Retry-After \
                            header says when to try again.")]),
            }
        },
        "/api/v1/session": {
            "get": {
                "operationId": "whoAmI",
                "summary": "Who is signed in with this session.",
                "security": signed_in(),
                "responses": with_errors(json!({ "200": session_ok("The signed-in account.") }),
                    &[NOT_SIGNED_IN]),
            },
            "post": {
                "operationId": "signIn",
                "summary": "Sign in; failures are throttled per account and per client address.",
                "requestBody": json_body("Credentials"),
                "responses": with_errors(
                    json!({ "200": session_ok("Signed in; the session cookie is set.") }),
                    &[BAD_REQUEST,
                        ("401", "A wrong e-mail address or password (wrong_credentials)."),
                        CROSS_SITE, THROTTLED]),
            },
            "delete": {
                "operationId": "signOut",
                "summary": "Sign out: the session ends on the server and the cookie is cleared.",
                "security": signed_in(),
                "responses": with_errors(json!({ "204": { "description": "Signed out." } }),
                    &[NOT_SIGNED_IN, CROSS_SITE]),
            }
        },
        "/api/v1/session/confirm": {
            "post": {
                "operationId": "confirmPassword",
                "summary": "Enter the password again; actions such as starting a transfer or \
                    downloading an archive need one within the last 5 minutes.",
                "security": signed_in(),
                "requestBody": json_body("Confirmation"),
                "responses": with_errors(
                    json!({ "200": session_ok("Confirmed; confirmed_at is now.") }),
                    &[BAD_REQUEST,
                        ("401", "Not signed in (unauthorized), or a wrong password (wrong_password)."),
                        CROSS_SITE, THROTTLED]),
            }
        },
        "/api/v1/account/audit-log": {
            "get": {
                "operationId": "auditLog",
                "summary": "The newest 200 entries of the signed-in person's own audit log.",
                "security": signed_in(),
                "responses": with_errors(
                    json!({ "200": json_ok("Newest first.", list_of("AuditLine")) }),
                    &[NOT_SIGNED_IN]),
            }
        },
        "/api/v1/notices": {
            "get": {
                "operationId": "notices",
                "summary": "The newest 100 in-app notices of the signed-in person (transfers \
                    started and ended, archives ready or failed).",
                "security": signed_in(),
                "responses": with_errors(
                    json!({ "200": json_ok("Newest first.", list_of("NoticeLine")) }),
                    &[NOT_SIGNED_IN]),
            }
        }
    })
}

fn connection_paths() -> Value {
    json!({
        "/api/v1/services": {
            "get": {
                "operationId": "services",
                "summary": "The services that can be connected here, and how: OAuth where an \
                    app is configured (or the sandbox's emulators), and the forms of the \
                    services connected with a password or keys.",
                "security": signed_in(),
                "responses": with_errors(
                    json!({ "200": json_ok("The services offered.", list_of("Offered")) }),
                    &[NOT_SIGNED_IN]),
            }
        },
        "/api/v1/connections": {
            "get": {
                "operationId": "connections",
                "summary": "The signed-in person's connected services (never their secrets).",
                "security": signed_in(),
                "responses": with_errors(
                    json!({ "200": json_ok("The connections.", list_of("ConnectionView")) }),
                    &[NOT_SIGNED_IN]),
            },
            "post": {
                "operationId": "connect",
                "summary": "Start connecting a service: open the answer's authorize_url in the \
                    person's browser, signed in to ferry with the same session. The service \
                    sends the browser back to /oauth/callback, which saves the connection. The \
                    authorization is good once, for 10 minutes.",
                "security": signed_in(),
                "requestBody": json_body("ConnectRequest"),
                "responses": with_errors(
                    json!({ "201": json_ok("The authorization has begun.", schema("ConnectStarted")) }),
                    &[BAD_REQUEST, NOT_SIGNED_IN, CROSS_SITE,
                        ("404", "The service cannot be connected here (not_found); see GET /api/v1/services."),
                        ("409", "Too many connections in progress for this account (conflict); \
                            finish one or wait 10 minutes.")]),
            }
        },
        "/api/v1/connections/{name}": {
            "delete": {
                "operationId": "disconnect",
                "parameters": path_param("name", "The connection's name."),
                "summary": "Revoke ferry's access where the service allows it, and forget the \
                    connection and its secret.",
                "security": signed_in(),
                "responses": with_errors(json!({ "204": { "description": "Forgotten." } }),
                    &[NOT_SIGNED_IN, CROSS_SITE,
                        ("404", "The signed-in person has no connection of this name (not_found).")]),
            }
        }
    })
}

fn transfer_paths() -> Value {
    let job_id = path_param("id", "The transfer's id (a whole UUID).");
    let action = |operation: &str, summary: &str, conflict: &'static str| {
        json!({
            "post": {
                "operationId": operation,
                "parameters": job_id,
                "summary": summary,
                "security": signed_in(),
                "responses": with_errors(
                    json!({ "200": json_ok("The transfer now (failures is empty).", schema("JobView")) }),
                    &[NOT_SIGNED_IN, CROSS_SITE, NO_SUCH_JOB, ("409", conflict)]),
            }
        })
    };
    json!({
        "/api/v1/transfers/review": {
            "get": {
                "operationId": "reviewTransfer",
                "summary": "What a transfer would move, how much, and where it lands. Lists the \
                    source, for at most a minute (then the figures are a minimum: partial).",
                "security": signed_in(),
                "parameters": [
                    { "name": "source", "in": "query", "required": true,
                        "description": "A source connection's name.", "schema": { "type": "string" } },
                    { "name": "destination", "in": "query", "required": true,
                        "description": "A destination connection's name.", "schema": { "type": "string" } },
                    { "name": "types", "in": "query",
                        "description": "Repeatable; absent: everything the route can carry.",
                        "schema": { "type": "array", "items": data_type() } },
                    { "name": "album", "in": "query",
                        "description": "Repeatable: only these albums (ids at the source); absent: all.",
                        "schema": { "type": "array", "items": { "type": "string" } } }
                ],
                "responses": with_errors(
                    json!({ "200": json_ok("The review.", schema("Review")) }),
                    &[("400", "Not one of the person's sources or destinations, an unknown type, \
                        or the source or destination cannot be opened or listed (bad_request)."),
                        NOT_SIGNED_IN]),
            }
        },
        "/api/v1/transfers": {
            "post": {
                "operationId": "startTransfer",
                "summary": "Start a transfer (or find the unfinished one of the same request), \
                    which runs in the background. Needs the password: in the body, or entered \
                    within the last 5 minutes.",
                "security": signed_in(),
                "requestBody": json_body("StartRequest"),
                "responses": with_errors(
                    json!({ "202": json_ok("Started; follow it at /api/v1/jobs/{id} (failures is empty here).",
                        schema("JobView")) }),
                    &[("400", "The body is not what the operation expects, names no source or \
                        destination of the person's, an unknown type, or an empty album list \
                        (bad_request)."),
                        ("401", "Not signed in (unauthorized), or a wrong password (wrong_password)."),
                        ("403", "A cross-site request (cross_site), or no password was given and \
                            it was last entered more than 5 minutes ago (confirmation_required)."),
                        THROTTLED]),
            }
        },
        "/api/v1/jobs": {
            "get": {
                "operationId": "jobs",
                "summary": "The signed-in person's transfers.",
                "security": signed_in(),
                "responses": with_errors(
                    json!({ "200": json_ok("The transfers (failures is empty in each).", list_of("JobView")) }),
                    &[NOT_SIGNED_IN]),
            }
        },
        "/api/v1/jobs/{id}": {
            "get": {
                "operationId": "job",
                "parameters": job_id,
                "summary": "One transfer, with its first 1000 failures.",
                "security": signed_in(),
                "responses": with_errors(
                    json!({ "200": json_ok("The transfer.", schema("JobView")) }),
                    &[NOT_SIGNED_IN, NO_SUCH_JOB]),
            }
        },
        "/api/v1/jobs/{id}/events": {
            "get": {
                "operationId": "jobEvents",
                "parameters": job_id,
                "summary": "The transfer's progress, live.",
                "security": signed_in(),
                "responses": with_errors(json!({ "200": {
                    "description": "Server-sent events named progress, one a second, each one's \
                        data a JobView as JSON (with its first 100 failures). The stream ends \
                        after the view of a done or cancelled transfer, or when the server stops; \
                        comments keep it alive in between.",
                    "content": { "text/event-stream": { "schema": { "type": "string" } } }
                } }), &[NOT_SIGNED_IN, NO_SUCH_JOB]),
            }
        },
        "/api/v1/jobs/{id}/pause": action("pauseJob",
            "Pause a running transfer; it can be resumed.",
            "The transfer is not running (conflict)."),
        "/api/v1/jobs/{id}/resume": action("resumeJob",
            "Resume a paused or interrupted transfer.",
            "The transfer is done or cancelled already (conflict)."),
        "/api/v1/jobs/{id}/cancel": action("cancelJob",
            "Cancel a transfer for good.",
            "The transfer is done or cancelled already (conflict)."),
    })
}

fn archive_paths() -> Value {
    let archive_id = path_param("id", "The archive's id (a UUID).");
    json!({
        "/api/v1/archives": {
            "get": {
                "operationId": "archives",
                "summary": "The signed-in person's archives, expired ones included.",
                "security": signed_in(),
                "responses": with_errors(
                    json!({ "200": json_ok("The archives.", list_of("ArchiveView")) }),
                    &[NOT_SIGNED_IN]),
            },
            "post": {
                "operationId": "requestArchive",
                "summary": "Ask for an archive of a source's data. It is built in the \
                    background; a notice (and an e-mail, where configured) says when it is \
                    ready.",
                "security": signed_in(),
                "requestBody": json_body("ArchiveRequest"),
                "responses": with_errors(
                    json!({ "202": json_ok("Accepted; the archive is building.", schema("ArchiveView")) }),
                    &[("400", "The body is not what the operation expects, names no source of \
                        the person's, or has a date that is not YYYY-MM-DD or a start after the \
                        end (bad_request)."),
                        NOT_SIGNED_IN, CROSS_SITE]),
            }
        },
        "/api/v1/archives/{id}": {
            "get": {
                "operationId": "archive",
                "parameters": archive_id,
                "summary": "One archive.",
                "security": signed_in(),
                "responses": with_errors(
                    json!({ "200": json_ok("The archive: building, ready or failed.", schema("ArchiveView")) }),
                    &[NOT_SIGNED_IN, NO_SUCH_ARCHIVE, ARCHIVE_GONE]),
            }
        },
        "/api/v1/archives/{id}/ticket": {
            "post": {
                "operationId": "archiveTicket",
                "parameters": archive_id,
                "summary": "A one-time download URL for a ready archive. Needs the password \
                    entered within the last 5 minutes (POST /api/v1/session/confirm).",
                "security": signed_in(),
                "responses": with_errors(
                    json!({ "201": json_ok("The download URL.", schema("Ticket")) }),
                    &[NOT_SIGNED_IN,
                        ("403", "A cross-site request (cross_site), or the password was last \
                            entered more than 5 minutes ago (confirmation_required)."),
                        NO_SUCH_ARCHIVE,
                        ("409", "The archive is still building, or its build failed (conflict)."),
                        ARCHIVE_GONE]),
            }
        },
        "/api/v1/archives/{id}/download": {
            "get": {
                "operationId": "downloadArchive",
                "summary": "The archive's file, once per ticket, to the account that got the \
                    ticket (with its session cookie).",
                "security": signed_in(),
                "parameters": [archive_id[0], { "name": "ticket", "in": "query", "required": true,
                    "description": "From POST /api/v1/archives/{id}/ticket: good for one download, \
                        within 5 minutes.",
                    "schema": { "type": "string" } }],
                "responses": with_errors(json!({ "200": {
                    "description": "The archive (ferry's format: media as they are, records as \
                        JSON, a manifest of SHA-256s, an offline viewer).",
                    "headers": {
                        "Content-Disposition": { "description": "attachment; filename=\"ferry-export-YYYY-MM-DD.zip\"",
                            "schema": { "type": "string" } },
                        "Content-Length": { "schema": { "type": "integer" } }
                    },
                    "content": { "application/zip": {} }
                } }), &[NOT_SIGNED_IN, NO_SUCH_ARCHIVE,
                    ("410", "The ticket is missing, was used already, has expired or is not for \
                        this archive, or the archive has expired and was deleted (gone).")]),
            }
        }
    })
}

fn account_schemas() -> Value {
    json!({
        "Credentials": {
            "type": "object", "required": ["email", "password"],
            "properties": {
                "email": { "type": "string", "format": "email" },
                "password": { "type": "string", "format": "password", "minLength": 8 }
            }
        },
        "Confirmation": {
            "type": "object", "required": ["password"],
            "properties": { "password": { "type": "string", "format": "password" } }
        },
        "Session": {
            "type": "object",
            "required": ["account_id", "email", "signed_in_at", "expires_at", "confirmed_at"],
            "properties": {
                "account_id": { "type": "string" },
                "email": { "type": "string" },
                "signed_in_at": { "type": "integer", "description": "Unix seconds." },
                "expires_at": { "type": "integer", "description": "Unix seconds." },
                "confirmed_at": { "type": "integer",
                    "description": "When the password was last entered in this session (Unix seconds)." }
            }
        },
        "AuditLine": {
            "type": "object", "required": ["at", "event", "detail"],
            "properties": {
                "at": { "type": "string", "format": "date-time" },
                "event": { "type": "string",
                    "description": "e.g. sign_up, sign_in, sign_in_failed, confirmation_failed, \
                        sign_out, connected, transfer_started, archive_downloaded" },
                "detail": { "type": "string", "description": "e.g. the client address of a sign-in." }
            }
        },
        "NoticeLine": {
            "type": "object", "required": ["at", "text", "link"],
            "properties": {
                "at": { "type": "string", "format": "date-time" },
                "text": { "type": "string" },
                "link": { "type": "string", "description": "A path in the web app, or empty." }
            }
        },
        "Health": {
            "type": "object", "required": ["status"],
            "properties": { "status": { "type": "string", "enum": ["ok", "unavailable"] } }
        },
        "Error": {
            "type": "object", "required": ["error", "message"],
            "properties": {
                "error": { "type": "string", "description": "A stable code: bad_request, \
                    unauthorized, wrong_credentials, wrong_password, email_taken, throttled, \
                    confirmation_required, cross_site, not_found, gone, conflict, internal." },
                "message": { "type": "string", "description": "For people." }
            }
        }
    })
}

fn connection_schemas() -> Value {
    json!({
        "Offered": {
            "type": "object", "required": ["name", "title", "sandbox", "role", "methods"],
            "properties": {
                "name": { "type": "string", "description": "What ConnectRequest.service takes." },
                "title": { "type": "string" },
                "sandbox": { "type": "boolean",
                    "description": "Emulated by the sandbox, not the real service." },
                "role": { "type": "string",
                    "description": "Whether photos come from it or copies go to it, for people." },
                "methods": { "type": "array", "items": { "$ref": "#/components/schemas/OfferedMethod" },
                    "description": "The ways to connect it here, as the service declares them." }
            }
        },
        "OfferedMethod": {
            "type": "object", "required": ["id", "title", "oauth", "fields"],
            "properties": {
                "id": { "type": "string", "enum": ["oauth", "app-password", "password", "api-key"] },
                "title": { "type": "string" },
                "oauth": { "type": "boolean", "description": "Authorizing in a browser \
                    (POST /api/v1/connections); otherwise the web app's form \
                    POST /connect/{service} with `method` and the fields." },
                "fields": { "type": "array", "items": { "$ref": "#/components/schemas/OfferedField" } }
            }
        },
        "OfferedField": {
            "type": "object", "required": ["key", "label", "help", "input", "required"],
            "properties": {
                "key": { "type": "string", "description": "The form field's name." },
                "label": { "type": "string" },
                "help": { "type": "string" },
                "input": { "type": "string", "enum": ["text", "email", "url", "password"] },
                "required": { "type": "boolean" }
            }
        },
        "ConnectionView": {
            "type": "object", "required": ["name", "service", "account", "created_at", "source"],
            "properties": {
                "name": { "type": "string" },
                "service": { "type": "string" },
                "account": { "type": "string", "description": "Who it is at the service." },
                "created_at": { "type": "string", "format": "date" },
                "source": { "type": "boolean",
                    "description": "Photos come from it (a source), or go to it (a destination)." }
            }
        },
        "ConnectRequest": {
            "type": "object", "required": ["service"],
            "properties": {
                "service": { "type": "string", "description": "An offered service's name." },
                "next": nullable("string", "Where the browser lands afterwards: a path in the \
                    web app (anything else means /connections).")
            }
        },
        "ConnectStarted": {
            "type": "object", "required": ["authorize_url"],
            "properties": {
                "authorize_url": { "type": "string", "format": "uri",
                    "description": "Open this in the person's browser, signed in to ferry in the \
                        same session." }
            }
        }
    })
}

fn transfer_schemas() -> Value {
    let count = json!({ "type": "integer", "minimum": 0 });
    json!({
        "TransferRequest": {
            "type": "object", "required": ["source", "destination"],
            "properties": {
                "source": { "type": "string", "description": "A source connection's name." },
                "destination": { "type": "string", "description": "A destination connection's name." },
                "types": { "type": "array", "items": data_type(),
                    "description": "Absent or empty: everything the route can carry. A type \
                        the destination cannot hold is not moved: the job's `types_skipped` \
                        says which, and why." },
                "albums": { "type": ["array", "null"], "items": { "type": "string" }, "minItems": 1,
                    "description": "Only these albums (their ids at the source); absent or null: all." }
            }
        },
        "StartRequest": {
            "allOf": [schema("TransferRequest"), {
                "type": "object",
                "properties": {
                    "password": { "type": ["string", "null"], "format": "password",
                        "description": "Needed when the password was last entered more than 5 \
                            minutes ago; a wrong one is refused even when it was not needed." }
                }
            }]
        },
        "Review": {
            "type": "object",
            "required": ["source", "source_title", "destination", "destination_title", "items",
                "inventory", "items_text", "bytes_text", "where_text"],
            "properties": {
                "source": { "type": "string" },
                "source_title": { "type": "string", "description": "The service's name." },
                "destination": { "type": "string" },
                "destination_title": { "type": "string", "description": "The service's name." },
                "items": { "type": "integer", "minimum": 0, "description": "Photos and videos." },
                "inventory": schema("Inventory"),
                "items_text": { "type": "string", "description": "For people." },
                "bytes_text": { "type": "string", "description": "For people." },
                "where_text": { "type": "string",
                    "description": "Where the copies land, for people." }
            }
        },
        "Inventory": {
            "type": "object",
            "required": ["photos", "videos", "bytes", "unknown_sizes", "albums", "partial"],
            "properties": {
                "photos": count,
                "videos": count,
                "bytes": count,
                "unknown_sizes": { "type": "integer", "minimum": 0,
                    "description": "Items whose size the source does not announce (not in bytes)." },
                "albums": list_of("AlbumView"),
                "partial": { "type": "boolean",
                    "description": "The listing was cut short (a very large account): the figures \
                        are a minimum." }
            }
        },
        "AlbumView": {
            "type": "object", "required": ["id", "title", "items"],
            "properties": {
                "id": { "type": "string", "description": "The album's id at the source." },
                "title": { "type": "string" },
                "items": { "type": "integer", "minimum": 0,
                    "description": "Of the items the transfer would move." }
            }
        },
        "JobView": {
            "type": "object",
            "required": ["id", "what", "state", "reason", "created_at", "finished_at",
                "items_total", "items_settled", "items_done", "items_skipped", "items_failed",
                "bytes_total", "bytes_done", "rate", "eta_secs", "failures", "types_skipped"],
            "properties": {
                "id": { "type": "string", "format": "uuid" },
                "what": { "type": "string", "description": "From where to where, for people." },
                "state": { "type": "string",
                    "enum": ["planning", "running", "paused", "done", "cancelled"] },
                "reason": nullable("string", "Why it paused or ended, when it did; null while it runs."),
                "created_at": { "type": "string", "description": "YYYY-MM-DD HH:MM:SS, UTC." },
                "finished_at": { "type": ["string", "null"], "format": "date-time",
                    "description": "When it was done or cancelled." },
                "items_total": count,
                "items_settled": { "type": "integer", "minimum": 0,
                    "description": "Done, skipped or failed." },
                "items_done": count,
                "items_skipped": count,
                "items_failed": count,
                "bytes_total": count,
                "bytes_done": count,
                "rate": nullable("number", "Bytes per second while it moves."),
                "eta_secs": nullable("integer", "Seconds left, estimated from the rate."),
                "failures": { "type": "array", "items": schema("Failure"),
                    "description": "The first failures (how many depends on the operation)." },
                "types_skipped": { "type": "array",
                    "description": "Types asked for that the route cannot carry (its sources \
                        hold them, its destination cannot), each with why: set when the job \
                        is planned.",
                    "items": { "type": "object", "required": ["type", "reason"],
                        "properties": { "type": data_type(), "reason": { "type": "string" } } } }
            }
        },
        "Failure": {
            "type": "object", "required": ["item", "reason"],
            "properties": {
                "item": { "type": "string" },
                "reason": { "type": "string" }
            }
        }
    })
}

/// A kind of information, by the name people and the API use.
fn data_type() -> Value {
    let names: Vec<&str> = DataType::ALL.iter().map(|t| t.as_str()).collect();
    json!({ "type": "string", "enum": names })
}

fn archive_schemas() -> Value {
    let day = json!({ "type": ["string", "null"], "format": "date", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$" });
    let mut since = day.clone();
    since["description"] = json!("Only records from this day on (YYYY-MM-DD, UTC).");
    let mut until = day;
    until["description"] = json!("Only records up to and including this day (YYYY-MM-DD, UTC).");
    json!({
        "ArchiveRequest": {
            "type": "object", "required": ["source"],
            "properties": {
                "source": { "type": "string", "description": "A source connection's name." },
                "types": { "type": "array",
                    "items": data_type(),
                    "description": "Absent or empty: all of them." },
                "since": since,
                "until": until
            }
        },
        "ArchiveView": {
            "type": "object",
            "required": ["id", "state", "what", "created_at", "size", "sha256", "expires_at",
                "error", "counts"],
            "properties": {
                "id": { "type": "string", "format": "uuid" },
                "state": { "type": "string", "enum": ["building", "ready", "failed", "expired"] },
                "what": { "type": "string", "description": "What was asked for, for people." },
                "created_at": { "type": "string", "description": "YYYY-MM-DD HH:MM:SS UTC" },
                "size": nullable("integer", "Bytes, once ready."),
                "sha256": nullable("string", "Of the file, once ready (hex)."),
                "expires_at": nullable("integer",
                    "Unix seconds, once ready: the download link ends and the archive is deleted then."),
                "error": nullable("string", "Why the build failed, when it did."),
                "counts": { "type": ["object", "null"],
                    "additionalProperties": { "type": "integer", "minimum": 0 },
                    "description": "Records per kind (album, media, post, …), once ready." }
            }
        },
        "Ticket": {
            "type": "object", "required": ["url"],
            "properties": {
                "url": { "type": "string",
                    "description": "A path on this server: good for one download, within 5 \
                        minutes, by the same account." }
            }
        }
    })
}
