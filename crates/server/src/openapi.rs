//! The OpenAPI 3.1 document at `/api/v1/openapi.json`, written by hand: the API is small, and
//! a test checks that it describes exactly the routes the router serves.

use axum::Json;
use serde_json::{Value, json};

pub async fn document() -> Json<Value> {
    Json(spec())
}

fn error_responses(codes: &[&str]) -> Value {
    let mut map = serde_json::Map::new();
    for code in codes {
        map.insert(
            (*code).to_string(),
            json!({ "description": describe(code), "content": { "application/json": {
                "schema": { "$ref": "#/components/schemas/Error" } } } }),
        );
    }
    Value::Object(map)
}

fn describe(code: &str) -> &'static str {
    match code {
        "400" => "The body is not what the operation expects.",
        "401" => "Not signed in, or a wrong e-mail address or password.",
        "403" => "A cross-site request (refused by CSRF protection).",
        "409" => "An account with this e-mail address exists already.",
        "429" => "Too many failed sign-ins; the Retry-After header says when to try again.",
        _ => "An error.",
    }
}

fn with_errors(mut responses: Value, codes: &[&str]) -> Value {
    if let (Some(map), Value::Object(errors)) = (responses.as_object_mut(), error_responses(codes))
    {
        map.extend(errors);
    }
    responses
}

fn session_ok(description: &str) -> Value {
    json!({ "description": description, "content": { "application/json": {
        "schema": { "$ref": "#/components/schemas/Session" } } } })
}

fn json_body(schema: &str) -> Value {
    json!({ "required": true, "content": { "application/json": {
        "schema": { "$ref": format!("#/components/schemas/{schema}") } } } })
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
        "paths": {
            "/health": {
                "get": {
                    "operationId": "health",
                    "summary": "Whether the server and its store answer.",
                    "responses": {
                        "200": { "description": "Serving.", "content": { "application/json": {
                            "schema": { "$ref": "#/components/schemas/Health" } } } },
                        "503": { "description": "The store does not answer.", "content": {
                            "application/json": { "schema": { "$ref": "#/components/schemas/Health" } } } }
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
                        &["400", "403", "409"]),
                }
            },
            "/api/v1/session": {
                "get": {
                    "operationId": "whoAmI",
                    "summary": "Who is signed in with this session.",
                    "security": [{ "session": [] }],
                    "responses": with_errors(json!({ "200": session_ok("The signed-in account.") }), &["401"]),
                },
                "post": {
                    "operationId": "signIn",
                    "summary": "Sign in; failures are throttled per account and per client address.",
                    "requestBody": json_body("Credentials"),
                    "responses": with_errors(
                        json!({ "200": session_ok("Signed in; the session cookie is set.") }),
                        &["400", "401", "403", "429"]),
                },
                "delete": {
                    "operationId": "signOut",
                    "summary": "Sign out: the session ends on the server and the cookie is cleared.",
                    "security": [{ "session": [] }],
                    "responses": with_errors(json!({ "204": { "description": "Signed out." } }), &["401", "403"]),
                }
            },
            "/api/v1/session/confirm": {
                "post": {
                    "operationId": "confirmPassword",
                    "summary": "Enter the password again; actions such as starting a transfer or \
                        downloading an archive need one within the last 5 minutes.",
                    "security": [{ "session": [] }],
                    "requestBody": json_body("Confirmation"),
                    "responses": with_errors(
                        json!({ "200": session_ok("Confirmed; confirmed_at is now.") }),
                        &["400", "401", "403", "429"]),
                }
            },
            "/api/v1/account/audit-log": {
                "get": {
                    "operationId": "auditLog",
                    "summary": "The newest 200 entries of the signed-in person's own audit log.",
                    "security": [{ "session": [] }],
                    "responses": with_errors(json!({ "200": { "description": "Newest first.",
                        "content": { "application/json": { "schema": { "type": "array",
                            "items": { "$ref": "#/components/schemas/AuditLine" } } } } } }), &["401"]),
                }
            }
        },
        "components": {
            "securitySchemes": {
                "session": { "type": "apiKey", "in": "cookie", "name": "ferry_session",
                    "description": "Named __Host-ferry_session when the server runs behind https." }
            },
            "schemas": {
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
                            "description": "sign_up, sign_in, sign_in_failed, confirmation_failed, sign_out" },
                        "detail": { "type": "string", "description": "e.g. the client address of a sign-in." }
                    }
                },
                "Health": {
                    "type": "object", "required": ["status"],
                    "properties": { "status": { "type": "string", "enum": ["ok", "unavailable"] } }
                },
                "Error": {
                    "type": "object", "required": ["error", "message"],
                    "properties": {
                        "error": { "type": "string", "description": "A stable code, e.g. wrong_credentials, throttled." },
                        "message": { "type": "string", "description": "For people." }
                    }
                }
            }
        }
    })
}
