// Reading a network's stored maps straight into the metrics.

extension EntropyMapSet {
    /// The maps of one network, tap and engine setting of a run, as the metrics take them.
    /// Throws when none are stored, when one lacks its fg flags, or when the set is incomplete
    /// (``MetricsError/missingCheckpoint(network:inputID:epoch:)``: resume the analysis first).
    public init(store: ResultsStore, run: String, network: String, tap: String, settingsHash: String) throws {
        var maps: [EntropyMap] = []
        for stored in try store.maps(run: run, network: network, tap: tap, settingsHash: settingsHash) {
            guard let m = stored.entropyMap else {
                throw MetricsError.invalidMap(network: network, inputID: stored.key.inputID, epoch: stored.key.epoch,
                                              problem: "stored in \(store.path) without fg flags; store maps with their sample's fg flags")
            }
            maps.append(m)
        }
        try self.init(network: network, maps: maps)
    }
}
