/** @type {AppTypes.Config} */
// OHIF 3.13.2 config served by `dicom-node viewer` (dicom_node/viewer; from the ohif-check kit).
// One DICOMweb data source on the page's own origin: nginx serves this site and proxies
// /dicom-web/ and /wado to the kit's Orthanc, so the ports live only in nginx.conf (dicom_node/viewer/nginx.py).
// Based on OHIF's platform/app/public/config/local_orthanc.js.
const ORIGIN = window.location.origin;
window.config = {
  name: 'dicom-node-viewer',
  routerBasename: '/',
  extensions: [],
  modes: [],
  customizationService: {},
  showStudyList: true,
  maxNumberOfWebWorkers: 2,
  showLoadingIndicator: true,
  showWarningMessageForCrossOrigin: false,
  showCPUFallbackMessage: true,
  strictZSpacingForVolumeViewport: true,
  investigationalUseDialog: { option: 'never' },
  groupEnabledModesFirst: true,
  showErrorDetails: 'always',
  maxNumRequests: { interaction: 100, thumbnail: 5, prefetch: 10 },
  defaultDataSourceName: 'dicomweb',
  dataSources: [
    {
      namespace: '@ohif/extension-default.dataSourcesModule.dicomweb',
      sourceName: 'dicomweb',
      configuration: {
        friendlyName: 'local Orthanc DICOMweb',
        name: 'orthanc',
        wadoUriRoot: ORIGIN + '/wado',
        qidoRoot: ORIGIN + '/dicom-web',
        wadoRoot: ORIGIN + '/dicom-web',
        qidoSupportsIncludeField: true,
        supportsReject: false,
        imageRendering: 'wadors',
        thumbnailRendering: 'wadors',
        enableStudyLazyLoad: true,
        supportsFuzzyMatching: true,
        supportsWildcard: true,
        dicomUploadEnabled: false,
        omitQuotationForMultipartRequest: true,
        bulkDataURI: { enabled: true },
      },
    },
  ],
  httpErrorHandler: error => {
    console.warn('HTTP error', error && error.status);
  },
};
