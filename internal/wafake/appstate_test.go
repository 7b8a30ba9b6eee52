package wafake_test

import (
	"testing"

	"go.mau.fi/whatsmeow/appstate"
	"go.mau.fi/whatsmeow/types/events"
)

// TestAppStateKeyShareAndPushNameChange: the phone shares its app state
// key with a linked device, the device sets its push name as app state
// (a critical_block patch), the server stores it and hands it back on
// the fetch whatsmeow does right after, the device applies it (its
// store's push name; events.PushNameSetting once it syncs other than in
// full), and the account's push name on the server is the new one. A
// second device of the account gets the patches when it syncs, and a
// device behind gets a 409 with what it lacks and sends again.
func TestAppStateKeyShareAndPushNameChange(t *testing.T) {
	s, g := newMessagingServer(t)
	a := addAccount(t, s, "4915110000301", "Alt")
	cli, evs := pairByQR(t, s, a, newContainer(t))
	if err := cli.SendAppState(ctxFor(t), appstate.BuildSettingPushName("Ohne Schlüssel")); err == nil {
		t.Fatal("a device without app state keys sent a patch")
	}
	if err := a.ShareAppStateKeys(ctxFor(t), *cli.Store.ID); err != nil {
		t.Fatal(err)
	}
	if id, err := cli.Store.AppStateKeys.GetLatestAppStateSyncKeyID(ctxFor(t)); err != nil || id == nil {
		t.Fatalf("the device holds no app state key: %x, %v", id, err)
	}
	if err := cli.SendAppState(ctxFor(t), appstate.BuildSettingPushName("Neu")); err != nil {
		t.Fatalf("send push name: %v", err)
	}
	if cli.Store.PushName != "Neu" {
		t.Fatalf("the device's push name is %q after the sync", cli.Store.PushName)
	}
	if got := a.CurrentPushName(); got != "Neu" {
		t.Fatalf("the account's push name on the server is %q", got)
	}
	// A second patch builds on the first (version 2).
	if err := cli.SendAppState(ctxFor(t), appstate.BuildSettingPushName("Neuer")); err != nil {
		t.Fatalf("send the second push name: %v", err)
	}
	// Synced from version 1, not in full, it is an event too.
	waitEvent(t, evs, "push name setting", func(e *events.PushNameSetting) bool { return e.Action.GetName() == "Neuer" })
	if v, _, err := cli.Store.AppState.GetAppStateVersion(ctxFor(t), string(appstate.WAPatchCriticalBlock)); err != nil || v != 2 {
		t.Fatalf("critical_block at version %d, %v; want 2", v, err)
	}

	// Another device of the account gets the key and, syncing, both
	// patches.
	cli2, evs2 := pairByQR(t, s, a, newContainer(t))
	if err := a.ShareAppStateKeys(ctxFor(t), *cli2.Store.ID); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, evs2, "critical_block synced", func(e *events.AppStateSyncComplete) bool {
		return e.Name == appstate.WAPatchCriticalBlock
	})
	if cli2.Store.PushName != "Neuer" {
		t.Fatalf("the second device's push name is %q after the sync", cli2.Store.PushName)
	}
	if v, _, err := cli2.Store.AppState.GetAppStateVersion(ctxFor(t), string(appstate.WAPatchCriticalBlock)); err != nil || v != 2 {
		t.Fatalf("the second device's critical_block is at version %d, %v; want 2", v, err)
	}
	// A third patch from the second device, then one from the first,
	// which is behind: a 409 it resolves by applying the patch it lacks
	// and sending again.
	if err := cli2.SendAppState(ctxFor(t), appstate.BuildSettingPushName("Zweites")); err != nil {
		t.Fatalf("send from the second device: %v", err)
	}
	if err := cli.SendAppState(ctxFor(t), appstate.BuildSettingPushName("Erstes")); err != nil {
		t.Fatalf("send from the device behind: %v", err)
	}
	if v, _, err := cli.Store.AppState.GetAppStateVersion(ctxFor(t), string(appstate.WAPatchCriticalBlock)); err != nil || v != 4 {
		t.Fatalf("the first device's critical_block is at version %d, %v; want 4", v, err)
	}
	g.check(t)
}
