// Package whatsmeow is wad's default session backend: WhatsApp's native
// multi-device protocol through go.mau.fi/whatsmeow, without a browser. It
// owns the device store (one SQLite file, <state>/.wwebjs_auth/whatsmeow.db,
// opened through modernc.org/sqlite, shared by every session of the
// daemon and locked against a second daemon), the mapping of client ids to
// device JIDs kept in that database, QR and phone-code login, the mapping
// of whatsmeow's connection events to wad's session states and reason
// codes, incoming messages and receipts as events, and sending texts.
package whatsmeow
