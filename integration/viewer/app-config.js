// OHIF configuration for integration/viewer_test.go. The test's server sends this
// file for /app-config.js instead of the one shipped in @ohif/app's dist (which
// points at a public demo server). Orthanc's DICOMweb is reached through the same
// origin (the server proxies /dicom-web/ and /wado), so no CORS is involved.
window.config = {
  routerBasename: '/',
  extensions: [],
  modes: [],
  showStudyList: true,
  maxNumberOfWebWorkers: 2,
  showWarningMessageForCrossOrigin: false,
  showCPUFallbackMessage: false,
  showLoadingIndicator: false,
  strictZSpacingForVolumeViewport: true,
  investigationalUseDialog: { option: 'never' },
  // Keep OHIF's "Do you want to open this Segmentation?" prompt: the test answers
  // it the way a radiologist does.
  disableConfirmationPrompts: false,
  // No onboarding tour over the viewport in a fresh browser profile.
  customizationService: [{ 'ohif.tours': { $set: [] } }],
  defaultDataSourceName: 'orthanc',
  dataSources: [
    {
      namespace: '@ohif/extension-default.dataSourcesModule.dicomweb',
      sourceName: 'orthanc',
      configuration: {
        friendlyName: 'Orthanc (test)',
        name: 'orthanc',
        wadoUriRoot: window.location.origin + '/wado',
        qidoRoot: window.location.origin + '/dicom-web',
        wadoRoot: window.location.origin + '/dicom-web',
        qidoSupportsIncludeField: false,
        imageRendering: 'wadors',
        thumbnailRendering: 'wadors',
        enableStudyLazyLoad: true,
        supportsFuzzyMatching: false,
        supportsWildcard: true,
        omitQuotationForMultipartRequest: true,
        bulkDataURI: { enabled: true },
      },
    },
  ],
};
