import ArgumentParser
import KDCore

struct PluginsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plugins",
        abstract: "List the registered modality plugins, their model families, taps, defaults, options and capabilities.")

    func run() throws {
        let registry = try Registration.registry()
        if registry.plugins.isEmpty { print("no plugins registered"); return }
        for p in registry.plugins {
            print("\(p.name): \(p.summary)")
            if p.help != p.summary { print("  " + p.help) }
            let d = p.defaults
            print("  defaults: b = \(d.threshold), α = \(d.alpha), family = \(d.family), τ = \(d.tau)\(d.tauRelative ? "·std(x)" : ""), σ₀ = \(d.initialSigma), σ ∈ [\(d.sigmaMin), \(d.sigmaMax)], K = \(d.noiseSamples), T = \(d.steps), target H = \(d.targetEntropy)")
            for f in p.families {
                var line = "  family \(f.name): \(f.summary); taps \(f.taps.joined(separator: ", "))"
                if let b = f.threshold { line += "; b = \(b)" }
                if let a = f.alpha { line += "; α = \(a)" }
                if let input = f.analysedInput { line += "; units at the output of \(input)" }
                print(line)
            }
            for o in p.options { print("  option \(o.name) (default \(o.defaultValue)): \(o.help)") }
            var capabilities: [String] = []
            if p is ResultPictures { capabilities.append("pictures of results") }
            if let b = p as? DatasetBuilding { capabilities.append("dataset builders: " + b.datasetBuilders.map(\.name).joined(separator: ", ")) }
            if let r = p as? DefaultRuns { capabilities.append("quickstart runs: " + r.defaultRuns.map(\.name).joined(separator: ", ")) }
            if p is TrainingAugmenting { capabilities.append("training augmentation") }
            if !capabilities.isEmpty { print("  offers: " + capabilities.joined(separator: "; ")) }
        }
    }
}
