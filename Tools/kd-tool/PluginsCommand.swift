import ArgumentParser
import KDCore

struct PluginsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plugins",
        abstract: "List the registered modality plugins, their model families, taps, defaults and options.")

    func run() throws {
        let registry = Registration.registry()
        if registry.plugins.isEmpty { print("no plugins registered"); return }
        for p in registry.plugins {
            print("\(p.name): \(p.summary)")
            print("  defaults: b = \(p.defaults.threshold), α = \(p.defaults.alpha), family = \(p.defaults.family)")
            for f in p.families {
                var line = "  family \(f.name): \(f.summary); taps \(f.taps.joined(separator: ", "))"
                if let b = f.threshold { line += "; b = \(b)" }
                if let a = f.alpha { line += "; α = \(a)" }
                print(line)
            }
            for o in p.options { print("  option \(o.name) (default \(o.defaultValue)): \(o.help)") }
        }
    }
}
