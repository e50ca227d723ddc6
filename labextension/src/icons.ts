import { LabIcon } from '@jupyterlab/ui-components';

import cloudSvg from '../style/icons/cloud.svg';
import dataSvg from '../style/icons/data.svg';
import homeSvg from '../style/icons/home.svg';
import sharedSvg from '../style/icons/shared.svg';

export const dataIcon = new LabIcon({ name: 'nbspaces:data', svgstr: dataSvg });
export const homeSpaceIcon = new LabIcon({
  name: 'nbspaces:home',
  svgstr: homeSvg
});
export const sharedSpaceIcon = new LabIcon({
  name: 'nbspaces:shared',
  svgstr: sharedSvg
});
export const remoteSpaceIcon = new LabIcon({
  name: 'nbspaces:remote',
  svgstr: cloudSvg
});

/** The icon of a kind of space: the home, a shared folder, or a remote service. */
export function kindIcon(kind: string): LabIcon {
  if (kind === 'home') {
    return homeSpaceIcon;
  }
  if (kind === 'shared') {
    return sharedSpaceIcon;
  }
  return remoteSpaceIcon;
}
