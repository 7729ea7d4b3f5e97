import Foundation
import Testing
@testable import KDCore

/// The bench lines name OpenBLAS's kernel family; it follows OPENBLAS_CORETYPE when that is set.
@Suite struct BLASInfoTests {
    @Test func theKernelFamilyIsNamed() {
        let name = BLAS.coreName
        #expect(!name.isEmpty && name != "unknown")
        if let forced = ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"], !forced.isEmpty {
            #expect(name.lowercased() == forced.lowercased(), "OPENBLAS_CORETYPE=\(forced) but OpenBLAS reports \(name)")
        }
    }
}
