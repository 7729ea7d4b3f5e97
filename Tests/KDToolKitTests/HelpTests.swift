import Testing
@testable import KDToolKit

@Suite struct HelpSmokeTests {
    @Test func rootHelpNamesNoModality() {
        let help = KDTool.helpMessage()
        #expect(help.contains("quickstart"))
    }
}
