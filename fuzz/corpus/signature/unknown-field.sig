# livelab plugin signature over plugin.toml (see the region's trust policy)
publisher = "Test publisher"
public_key = "ed25519:d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
manifest_sha256 = "09f909984f03997f5dfb33324dfad399f2693db3417429a1f64022d812b1b148"
signature = "20457a41f1e67c36c8d928ac41b7b53a8c788e771abac45c543193a3672c71197084fbbba557a1d15f172b5f2a52fe321e9bf939b9a42b848e1acb212c1e1504"
extra = "x"
